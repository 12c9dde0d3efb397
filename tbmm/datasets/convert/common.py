"""What the converters share: their error, their report, CSV reading and box checks.

Light on purpose (no torch, mmdet or mmengine import), like the annotation reader.
"""
import csv
import math
import os
from collections import Counter

from tbmm.datasets.annotations import is_absolute_or_escaping, validate_record
from tbmm.errors import UserInputError


class ConversionError(UserInputError):
    """A problem in a file being converted; the message is one line naming the file and the place
    in it (``row N``: the line number, the header being row 1; or a JSON entry)."""

    def __init__(self, path, message, where=None):
        text = str(path) + (f': {where}' if where else '') + f': {message}'
        super().__init__(text)
        self.path = path
        self.where = where


def row_where(row, file_name=None):
    """``row 5 ('x.png')``: the place of a CSV row in a :class:`ConversionError`."""
    return f'row {row}' + (f' ({file_name!r})' if file_name else '')


class ConversionReport:
    """The converted records and everything a conversion left out, merged or changed, counted.

    ``notes`` maps a description (``'duplicate rows, kept once'``) to its count and its first
    examples; :meth:`format` prints them after the totals, so nothing is lost silently.
    """

    max_examples = 3

    def __init__(self, source):
        self.source = str(source)
        self.records = []
        self.notes = {}

    def note(self, what, example=None, n=1):
        if n <= 0:
            return
        count, examples = self.notes.get(what, (0, []))
        if example is not None and len(examples) < self.max_examples:
            examples.append(str(example))
        self.notes[what] = (count + n, examples)

    def count(self, what):
        return self.notes.get(what, (0, []))[0]

    @property
    def num_boxes(self):
        return sum(len(r['boxes']) for r in self.records)

    @property
    def num_negatives(self):
        return sum(1 for r in self.records if not r['boxes'])

    def boxes_per_class(self):
        return Counter(s for r in self.records for s in r['syms'])

    def format(self):
        per_class = ', '.join(f'{name}: {n}' for name, n in sorted(self.boxes_per_class().items()))
        lines = [f'{self.source}: {len(self.records)} images ({self.num_negatives} negatives), '
                 f'{self.num_boxes} boxes' + (f' ({per_class})' if per_class else '')]
        for what, (count, examples) in self.notes.items():
            more = ', ...' if count > len(examples) else ''
            shown = f' (e.g. {", ".join(examples)}{more})' if examples else ''
            lines.append(f'  {what}: {count}{shown}')
        return '\n'.join(lines)


def read_csv(path):
    """``(header, rows)`` of a CSV file, rows as ``(row number, cells)`` with blank lines left out.

    The row number is the line the row starts on (the header is row 1). A UTF-8 byte-order mark is
    accepted. Raises :class:`ConversionError` for a missing, unreadable or empty file.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8-sig', newline='') as f:
            reader = csv.reader(f)
            rows = []
            start = 1
            for cells in reader:
                if any(c.strip() for c in cells):
                    rows.append((start, [c.strip() for c in cells]))
                start = reader.line_num + 1
    except FileNotFoundError:
        raise ConversionError(path, 'file not found') from None
    except IsADirectoryError:
        raise ConversionError(path, 'is a directory, not a CSV file') from None
    except OSError as e:
        raise ConversionError(path, f'cannot read ({e.strerror or e})') from None
    except UnicodeDecodeError as e:
        raise ConversionError(path, f'not a UTF-8 text file ({e.reason} at byte {e.start})') \
            from None
    except csv.Error as e:
        raise ConversionError(path, f'not a readable CSV file ({e})', row_where(start)) from None
    if not rows:
        raise ConversionError(path, 'empty file (no header)')
    return rows[0][1], rows[1:]


def column_index(path, header, names):
    """Indices of the columns ``names`` in ``header``; one error listing every missing column."""
    positions = {name: i for i, name in reversed(list(enumerate(header)))}
    missing = [name for name in names if name not in positions]
    if missing:
        raise ConversionError(
            path, f'missing column(s) {", ".join(missing)} in the header (row 1: '
            f'{",".join(header)!r}); expected {",".join(names)}')
    return [positions[name] for name in names]


def fit_row(cells, header, path, where):
    """The row's cells padded with empty ones to the header's length; values beyond the header's
    columns are an error (a comma too many shifts every later value)."""
    if any(cells[len(header):]):
        raise ConversionError(path, f'{len(cells)} values but the header has {len(header)} '
                              f'columns: {",".join(cells)!r}', where)
    return cells[:len(header)] + [''] * (len(header) - len(cells))


def parse_number(text, path, where, column):
    """A finite float from a CSV cell, or a :class:`ConversionError` naming the row and column."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        shown = repr(text) if text else 'empty'
        raise ConversionError(path, f'{column} is not a finite number ({shown})', where)
    return value


def round_box(box, decimals):
    """The box rounded to ``decimals`` (``None``: as computed)."""
    return list(box) if decimals is None else [round(v, decimals) for v in box]


def check_box(box, path, where, image_size=None, what='box', clip=None, report=None):
    """Return the box, refusing an empty or inverted one and, with ``image_size`` = (width,
    height), one that is not inside the image.

    ``clip``: None (the converter cannot clip), False (it can: the error says so) or True (a box
    partly outside is clipped to the image and counted in ``report``; one with no area inside is
    still an error). Errors are :class:`ConversionError` naming the place.
    """
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise ConversionError(path, f'{what} {_show(box)} is empty or inverted (x2 <= x1 or '
                              f'y2 <= y1)', where)
    if image_size is None:
        return list(box)
    width, height = image_size
    if x1 >= 0 and y1 >= 0 and x2 <= width and y2 <= height:
        return list(box)
    clipped = [max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)]
    if not clip or clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        hint = ' (--clip clips boxes partly outside to the image)' if clip is False else ''
        part = 'has no area inside' if clip else 'is not inside'
        raise ConversionError(path, f'{what} {_show(box)} {part} the {width:g}x{height:g} '
                              f'image{hint}', where)
    report.note('boxes partly outside their image, clipped', where)
    return clipped


def _show(box):
    return '[' + ', '.join(f'{v:g}' for v in box) + ']'


def add_box(record, name, box, report, where):
    """Append a box to a record unless the record has it already with that class (then count it
    in ``report``): two identical boxes of one class only cost recall in evaluation."""
    for sym, other in zip(record['syms'], record['boxes']):
        if sym == name and other == box:
            report.note('identical boxes of one class in one image, kept once', where)
            return False
    record['syms'].append(name)
    record['boxes'].append(box)
    return True


def check_file_name(name, path, where):
    """Refuse an empty file name or one the annotation reader refuses (absolute, with "..")."""
    if not name:
        raise ConversionError(path, 'empty image file name', where)
    if is_absolute_or_escaping(name):
        raise ConversionError(path, f'image file name {name!r} must be relative to the image '
                              'folder (no absolute path, no "..")', where)


def check_records(records, source):
    """Run every record through the annotation reader's checks, so that the written file reads
    back (an :class:`AnnotationError` naming ``source`` and the record otherwise)."""
    for i, record in enumerate(records):
        validate_record(record, i, source)
