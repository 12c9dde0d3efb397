"""The README's and docs' result tables equal what tools/misc/records_tables.py derives from the
committed records (docs/records/), so a number cannot drift from its record; and the derivation
itself is checked against independent sources: the cross-validation tool's own summary table, the
rates' ratios as the pages showed them, and hand-made documents."""
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tbmm.analysis.records import (
    DerivedPhrase,
    DerivedTable,
    check_documents,
    markdown_table,
    marked_tables,
    read_jsonl,
    replace_marked_table,
)

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'misc' / 'records_tables.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('records_tables', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_derived_table_and_phrase_equals_its_document(tool):
    problems = check_documents(tool.read_document, tool.TABLES, tool.PHRASES)
    assert problems == [], '\n'.join(
        problems + ['(python tools/misc/records_tables.py --write rewrites the tables)'])


def test_check_exits_0_from_the_command_line():
    proc = subprocess.run([sys.executable, str(TOOL), '--check'], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'all equal their records' in proc.stdout


def test_every_marker_in_the_documents_belongs_to_a_derived_table(tool):
    names = {table.name for table in tool.TABLES}
    for document in {table.document for table in tool.TABLES}:
        assert set(marked_tables(tool.read_document(document))) <= names, document


def _cells(line):
    return [cell.strip() for cell in line.strip().strip('|').split('|')]


def test_nih_table_equals_the_cross_validation_tools_own_summary(tool):
    # cv_summary.md was written by tools/analysis_tools/cross_validate.py itself, independently of
    # records_tables.py: every model, baseline and verdict cell must agree (the tool writes a
    # zero interval as [0.000, 0.000], the README leaves it out).
    summary = (REPO / 'docs/records/nih_cv/cv_summary.md').read_text().splitlines()
    expected = {}
    for line in summary:
        if line.startswith('| ') and not line.startswith('| class') and line.count('|') == 8:
            cells = _cells(line)
            expected[cells[0]] = [c.replace(' [0.000, 0.000]', '') for c in cells[1:]]
    derived = tool.nih_cv_classes_table().splitlines()[2:]
    assert len(derived) == len(expected) == 9
    for line in derived:
        cells = _cells(line)
        assert cells[1:] == expected[cells[0]], cells[0]


def test_gpu_ratios_equal_the_ratios_the_pages_showed(tool):
    # The transcription kept each row's ratio as printed; the derived tables compute it from the
    # two rates, so a mistyped rate shows up here.
    rows = tool.gpu_records()
    assert len(rows) == 44
    for record in rows:
        ratio = record['ours']['img_per_s'] / record['stock']['img_per_s']
        assert f'{ratio:.2f}x' == record['ratio_shown'], record['label']
        for key in ('code_commit', 'command', 'machine', 'date', 'source'):
            assert record[key], (record['label'], key)


def test_phantom_records_name_their_code_and_command(tool):
    records = read_jsonl(tool.PHANTOM)
    assert len(records) == 34
    seeds = {}
    for record in records:
        assert record['code'] and record['command'] and record['source']
        assert 0 < record['mAP50'] < 1
        seeds.setdefault(record['experiment'], set()).add(record['seed'])
    assert seeds['baseline float32'] == seeds['fast bf16, label sets'] == {0, 1, 2, 3}


def test_the_readme_gpu_table_says_how_many_runs_each_rate_rests_on(tool):
    table = tool.gpu_summary_table()
    five = tool.e2e_bf16_runs()
    assert len(five) == 5
    assert sorted(r['ours']['num_workers'] for r in five) == [6, 8, 12, 12, 12]
    assert '| 3 | 85.6–95.0 | 61.7–65.3 | 1.38–1.54× (median 1.39×) |' in table
    # 2.59x against a slow stock, 2.12x against the usual one
    assert '2.59× (its stock ran slow' in table and '2.12× against 202.9' in table
    # memory in binary GiB: 10287 MiB is 10.0 GiB, not 10.3
    assert tool.gpu_memory_phrase().startswith("10.0 GiB against stock's 16.8 GiB")


def test_markdown_table_and_markers():
    table = markdown_table(['a', 'b'], [['x', 1], ['y|z', 2]])
    assert table.splitlines() == ['| a | b |', '|---|---:|', '| x | 1 |', '| y\\|z | 2 |']
    with pytest.raises(ValueError):
        markdown_table(['a', 'b'], [['x']])
    text = 'intro\n<!-- derived: t -->\n| old |\n|---|\n| 1 |\nafter\n'
    start, end = marked_tables(text)['t']
    assert text[start:end] == '| old |\n|---|\n| 1 |\n'
    assert replace_marked_table(text, 't', '| new |\n|---|') == (
        'intro\n<!-- derived: t -->\n| new |\n|---|\nafter\n')
    with pytest.raises(ValueError, match='no marker'):
        replace_marked_table(text, 'other', '| x |')
    with pytest.raises(ValueError, match='marked twice'):
        marked_tables(text + '<!-- derived: t -->\n| x |\n')
    with pytest.raises(ValueError, match='not followed by a table'):
        marked_tables('<!-- derived: u -->\ntext\n')


def test_check_documents_names_a_drifted_table_and_a_missing_phrase():
    documents = {'doc.md': 'a sentence with 1.5× in it\n<!-- derived: t -->\n| 1 |\n|---|\n'}
    tables = [DerivedTable('t', 'doc.md', lambda: '| 1 |\n|---|'),
              DerivedTable('gone', 'doc.md', lambda: '| 2 |\n|---|')]
    phrases = [DerivedPhrase('p', 'doc.md', lambda: 'with 1.5×'),
               DerivedPhrase('q', 'doc.md', lambda: 'with 1.6×')]
    problems = check_documents(documents.__getitem__, tables, phrases)
    assert len(problems) == 2
    assert 'gone' in problems[0] and re.search(r"phrase 'q' missing", problems[1])
    documents['doc.md'] = documents['doc.md'].replace('| 1 |', '| 9 |')
    assert 'differs from its records' in check_documents(documents.__getitem__, tables[:1])[0]


def test_records_are_valid_json_lines():
    for path in (REPO / 'docs' / 'records').glob('*.jsonl'):
        for line in path.read_text(encoding='utf-8').splitlines():
            if line.strip():
                json.loads(line)
