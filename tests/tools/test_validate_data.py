"""tools/misc/validate_data.py on the bad-input corpus: exit status, every problem printed, no
traceback."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / 'tests' / 'fixtures' / 'bad_inputs'
CASES = json.loads((CORPUS / 'cases.json').read_text(encoding='utf-8'))


TOOL = importlib.import_module('tools.misc.validate_data')


def argv(case, *extra):
    args = [str(CORPUS / case['ann']), str(CORPUS / case['img_dir']), '--max-listed', '0', *extra]
    for key, value in case['options'].items():
        flag = '--' + key.replace('_', '-')
        args += [flag] if value is True else [flag, str(value)]
    return args


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_exit_status_and_every_problem_line(case, capsys):
    status = TOOL.main(argv(case))
    out = capsys.readouterr().out
    has_errors = any(p[0] == 'error' for p in case['problems'])
    assert status == (1 if has_errors else 0)
    problem_lines = [line.strip() for line in out.splitlines()
                     if line.startswith(('  error: ', '  warning: '))]
    assert len(problem_lines) == len(case['problems'])
    # Errors are listed before warnings.
    expected = sorted(case['problems'], key=lambda p: p[0] != 'error')
    for line, (severity, _, index, text) in zip(problem_lines, expected):
        assert line.startswith(f'{severity}: ') and text in line
        if index is not None:
            assert f'record {index}' in line
    assert out.rstrip().splitlines()[-1].startswith('FAILED' if has_errors else 'OK')


def test_listing_is_capped_but_counts_stay_complete(capsys):
    case = next(c for c in CASES if c['name'] == 'several_problems')
    assert TOOL.main(argv(case)[:2] + ['--max-listed', '1']) == 1
    out = capsys.readouterr().out
    assert 'Problems (3 errors, 0 warnings):' in out
    assert '... 2 more not listed (--max-listed 0 lists all)' in out


def run(*args):
    return subprocess.run([sys.executable, 'tools/misc/validate_data.py', *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_command_line_writes_json_and_never_a_traceback(tmp_path):
    out = tmp_path / 'reports' / 'report.json'  # its folder is made
    bad = next(c for c in CASES if c['name'] == 'truncated_png')
    proc = run(*argv(bad), '--json', str(out))
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    report = json.loads(out.read_text())
    assert report['ok'] is False and report['images_unreadable'] == 1
    assert report['problems'][0]['code'] == 'unreadable-image'
    assert report['problems'][0]['index'] == 0
    good = next(c for c in CASES if c['name'] == 'dicom_monochrome1')
    proc = run(*argv(good))
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr
    assert 'DICOM MONOCHROME1: 1' in proc.stdout


def test_usage_mistakes_exit_2():
    case = CASES[0]
    proc = run(*argv(case)[:2], '--classes', 'Nodule,Nodule')
    assert proc.returncode == 2 and 'duplicate class names' in proc.stderr
