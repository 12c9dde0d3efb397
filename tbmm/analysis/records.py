"""Tables and numbers of the documentation, derived from committed records so they cannot drift.

A record file is JSON lines (:func:`read_jsonl`) or a JSON document under ``docs/records/``. A table
derived from records stands in a markdown file right after a marker line
``<!-- derived: NAME -->`` (invisible when rendered): the table is the block of ``|`` lines that
follows it. :func:`marked_tables` finds them, :func:`replace_marked_table` swaps one for its derived
text, and :func:`check_documents` lists every table that differs from what the records give and
every derived phrase (a sentence's number) missing from its document. Light: standard library only.
"""
import json
import re

__all__ = ['read_jsonl', 'markdown_table', 'marked_tables', 'replace_marked_table',
           'check_documents', 'DerivedTable', 'DerivedPhrase']

MARKER = re.compile(r'^<!-- derived: ([\w.-]+) -->[ \t]*$', re.MULTILINE)


def read_jsonl(path):
    """The records of a JSON-lines file, one dict per non-empty line."""
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def markdown_table(header, rows, align=None):
    """A markdown table; ``align`` is one ``'l'`` or ``'r'`` per column (default: first left, the
    rest right). Cells are converted with ``str``; a ``|`` inside a cell is escaped."""
    align = align or 'l' + 'r' * (len(header) - 1)
    if len(align) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError('every row and the alignment need one entry per header column')

    def line(cells):
        return '| ' + ' | '.join(str(c).replace('|', '\\|') for c in cells) + ' |'

    rule = '|' + '|'.join('---' if a == 'l' else '---:' for a in align) + '|'
    return '\n'.join([line(header), rule] + [line(row) for row in rows])


def marked_tables(text):
    """``{name: (start, end)}``: character span of the table after each marker in ``text``.

    Raises ValueError when a name is marked twice or a marker has no table right after it.
    """
    spans = {}
    for match in MARKER.finditer(text):
        name = match.group(1)
        if name in spans:
            raise ValueError(f'table {name!r} is marked twice')
        start = match.end() + 1
        end = start
        for line in text[start:].splitlines(keepends=True):
            if not line.startswith('|'):
                break
            end += len(line)
        if end == start:
            raise ValueError(f'marker of table {name!r} is not followed by a table')
        spans[name] = (start, end)
    return spans


def replace_marked_table(text, name, table):
    """``text`` with the table after the marker ``name`` replaced by ``table``; ValueError when
    ``text`` has no such marker."""
    spans = marked_tables(text)
    if name not in spans:
        raise ValueError(f'no marker <!-- derived: {name} -->')
    start, end = spans[name]
    return text[:start] + table.rstrip('\n') + '\n' + text[end:]


class DerivedTable:
    """A table of ``document`` (a path relative to the repository), marked ``name``, whose text
    ``derive()`` computes from the records."""

    def __init__(self, name, document, derive):
        self.name, self.document, self.derive = name, document, derive


class DerivedPhrase:
    """A piece of a sentence of ``document`` that must appear in it verbatim, as ``derive()``
    computes it from the records (e.g. ``'10.0 GiB against stock's 16.8 GiB'``)."""

    def __init__(self, name, document, derive):
        self.name, self.document, self.derive = name, document, derive


def check_documents(read_document, tables=(), phrases=()):
    """Problems (one line each) where documents differ from their records; empty when none.

    ``read_document(path)`` returns a document's text. A table is a problem when its marker is
    missing or its text differs from ``derive()``; a phrase when the document lacks it.
    """
    problems = []
    texts = {}

    def text_of(path):
        if path not in texts:
            texts[path] = read_document(path)
        return texts[path]

    for table in tables:
        text = text_of(table.document)
        try:
            spans = marked_tables(text)
        except ValueError as error:
            problems.append(f'{table.document}: {error}')
            continue
        if table.name not in spans:
            problems.append(f'{table.document}: no marker <!-- derived: {table.name} -->')
            continue
        start, end = spans[table.name]
        if text[start:end].rstrip('\n') != table.derive().rstrip('\n'):
            problems.append(f'{table.document}: table {table.name!r} differs from its records')
    for phrase in phrases:
        expected = phrase.derive()
        if expected not in text_of(phrase.document):
            problems.append(f'{phrase.document}: phrase {phrase.name!r} missing: {expected!r}')
    return problems
