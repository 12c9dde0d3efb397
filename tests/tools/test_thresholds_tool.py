"""tools/analysis_tools/thresholds.py: the table, thresholds.json, fallbacks, --strict and
one-line errors."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tbmm.datasets.annotations import write_annotations
from tbmm.evaluation.functional.thresholds import load_thresholds
from tbmm.utils import run_cli

REPO = Path(__file__).resolve().parents[2]
G1, G2 = [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]
ELSEWHERE = [50.0, 50.0, 60.0, 60.0]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'thresholds_tool', REPO / 'tools' / 'analysis_tools' / 'thresholds.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_case(tmp_path):
    """Patient p1: 2 images with 4 Nodules; Nodule scores 0.9 TP, 0.8 FP, 0.7 TP, 0.4 TP, 0.2 FP
    (worked out in tests/evaluation/test_thresholds.py); a Mass box with no Mass ground truth; a
    box of a class outside the class list."""
    gt = [dict(file_name='p1_a.png', syms=['Nodule', 'Nodule'], boxes=[G1, G2]),
          dict(file_name='p1_b.png', syms=['Nodule', 'Nodule'], boxes=[G1, G2])]
    pred = [dict(file_name='p1_a.png', syms=['Nodule', 'Nodule', 'Nodule', 'Mass'],
                 boxes=[G1, ELSEWHERE, ELSEWHERE, G2], scores=[0.9, 0.8, 0.2, 0.6]),
            dict(file_name='p1_b.png', syms=['Nodule', 'Nodule', 'Goitre'], boxes=[G1, G2, G1],
                 scores=[0.7, 0.4, 0.5])]
    write_annotations(tmp_path / 'val.json', gt)
    write_annotations(tmp_path / 'pred.json', pred)
    return str(tmp_path / 'val.json'), str(tmp_path / 'pred.json')


def test_writes_thresholds_and_prints_the_table(tmp_path, capsys):
    ann, pred = write_case(tmp_path)
    out = tmp_path / 'deploy' / 'thresholds.json'
    assert run_cli(load_tool().main, [
        '--ann', ann, '--pred', pred, '--target', 'sensitivity=0.5', '--out', str(out),
        '--classes', 'Nodule,Mass', '--bootstrap', '200', '--group-regex', r'^(p\d+)_']) == 0
    stdout = capsys.readouterr().out
    assert 'Target: sensitivity >= 0.5' in stdout
    nodule = next(line for line in stdout.splitlines() if line.startswith('Nodule'))
    assert '0.7000' in nodule and nodule.endswith('yes')
    assert 'Mass: no ground truth' in stdout
    assert 'Ignored boxes of classes outside the class list in predictions: Goitre x1.' in stdout
    assert '200 resamples of the 1 patients' in stdout
    doc = json.loads(out.read_text())
    entry = doc['classes']['Nodule']
    # One patient: every resample is the whole set, so the interval is the point.
    assert entry['threshold'] == 0.7 and entry['sensitivity'] == 0.5
    assert entry['sensitivity_ci95'] == [0.5, 0.5]
    assert entry['precision'] == pytest.approx(2 / 3) and entry['fp_per_image'] == 0.5
    assert doc['classes']['Mass']['threshold'] is None
    assert doc['target'] == {'metric': 'sensitivity', 'value': 0.5}
    assert doc['source']['ann'] == ann and len(doc['source']['pred_sha256']) == 64
    assert doc['settings']['bootstrap']['unit'] == 'group'
    assert load_thresholds(out, ['Nodule']) == {'Nodule': 0.7}


def test_fp_budget_and_f1(tmp_path, capsys):
    ann, pred = write_case(tmp_path)
    out = tmp_path / 't.json'
    tool = load_tool()
    assert run_cli(tool.main, ['--ann', ann, '--pred', pred, '--target', 'fp_per_image=0.5',
                               '--out', str(out), '--classes', 'Nodule,Mass',
                               '--bootstrap', '0']) == 0
    # Nodule: lowest threshold with FP/image <= 0.5 is 0.4; Mass: its only box, an FP (0.5/image).
    assert load_thresholds(out) == {'Nodule': 0.4, 'Mass': 0.6}
    assert json.loads(out.read_text())['classes']['Nodule']['sensitivity_ci95'] is None
    assert run_cli(tool.main, ['--ann', ann, '--pred', pred, '--target', 'f1', '--out', str(out),
                               '--classes', 'Nodule,', '--bootstrap', '50']) == 0
    assert load_thresholds(out) == {'Nodule': 0.4}
    capsys.readouterr()


def test_unreached_target_is_a_fallback_or_with_strict_an_error(tmp_path, capsys):
    ann, pred = write_case(tmp_path)
    out = tmp_path / 't.json'
    args = ['--ann', ann, '--pred', pred, '--target', 'sensitivity=0.9', '--out', str(out),
            '--classes', 'Nodule,', '--bootstrap', '20']
    tool = load_tool()
    assert run_cli(tool.main, args) == 0
    stdout = capsys.readouterr().out
    assert 'Nodule: sensitivity >= 0.9 not reached (at most 0.750)' in stdout
    assert json.loads(out.read_text())['classes']['Nodule']['reached'] is False
    assert load_thresholds(out) == {'Nodule': 0.2}
    out.unlink()
    assert run_cli(tool.main, args + ['--strict']) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith('error: target sensitivity >= 0.9 not reached for 1 class(es)')
    assert '\n' not in err and not out.exists() and captured.out == ''


@pytest.mark.parametrize('target', ['sensitivity', 'sensitivity=2', 'recall=0.9', 'f1=1',
                                    'fp_per_image=-0.1'])
def test_bad_target_is_an_argparse_error(tmp_path, capsys, target):
    with pytest.raises(SystemExit) as exit_info:
        load_tool().parse_args(['--ann', 'a.json', '--pred', 'p.json', '--target', target,
                                '--out', str(tmp_path / 't.json')])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert 'argument --target: bad target' in err


@pytest.mark.parametrize('extra, message', [
    (['--classes', 'A,A'], 'duplicate class names'),
    (['--group-regex', '(x)(y)'], 'exactly one capture group'),
    (['--group-regex', r'^(q\d+)_'], 'does not match file name'),
    (['--iou-thr', '0'], 'iou_thr must be in (0, 1]'),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, extra, message):
    ann, pred = write_case(tmp_path)
    assert run_cli(load_tool().main, ['--ann', ann, '--pred', pred, '--target', 'f1', '--out',
                                      str(tmp_path / 't.json'), '--bootstrap', '5', *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and message in err and '\n' not in err


def test_prediction_file_without_scores_from_the_command_line(tmp_path):
    ann, _ = write_case(tmp_path)
    proc = subprocess.run([sys.executable, 'tools/analysis_tools/thresholds.py', '--ann', ann,
                           '--pred', ann, '--target', 'f1', '--out', str(tmp_path / 't.json')],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ''
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and '"scores"' in lines[0]
