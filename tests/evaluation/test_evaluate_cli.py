"""tools/evaluate.py: round trip to metrics.json and clean one-line errors."""
import json
import os.path as osp
import subprocess
import sys

from tbmm.datasets.annotations import write_annotations

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METRIC_KEYS = {'n_gt', 'ap50', 'coco_ap', 'coco_ap50', 'coco_ap75', 'froc_recall@0.05',
               'froc_recall@0.1', 'froc_recall@0.2', 'froc_avgrecall'}


def run_cli(*args):
    return subprocess.run([sys.executable, 'tools/evaluate.py', *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def write_case(tmp_path):
    box = [10.0, 10.0, 60.0, 60.0]
    gt = [{'file_name': 'a.png', 'syms': ['Nodule'], 'boxes': [box]},
          {'file_name': 'b.png', 'syms': ['Mass'], 'boxes': [box]},
          {'file_name': 'c.png', 'syms': [], 'boxes': []}]
    pred = [{'file_name': 'a.png', 'syms': ['Nodule', 'Mass'], 'boxes': [box, box],
             'scores': [0.9, 0.3]},
            {'file_name': 'c.png', 'syms': ['Nodule'], 'boxes': [box], 'scores': [0.2]}]
    write_annotations(tmp_path / 'gt.json', gt)
    write_annotations(tmp_path / 'pred.json', pred)
    return str(tmp_path / 'gt.json'), str(tmp_path / 'pred.json')


def test_round_trip_writes_documented_metrics(tmp_path):
    ann, pred = write_case(tmp_path)
    out, png = tmp_path / 'out' / 'metrics.json', tmp_path / 'froc.png'
    proc = run_cli('--ann', ann, '--pred', pred, '--classes', 'Nodule,Mass,Fracture', '--out',
                   str(out), '--froc-png', str(png))
    assert proc.returncode == 0, proc.stderr
    assert 'Nodule' in proc.stdout and 'mean (2/3 classes)' in proc.stdout
    metrics = json.loads(out.read_text())
    assert metrics['classes'] == ['Nodule', 'Mass', 'Fracture']
    for name in metrics['classes']:
        assert METRIC_KEYS <= set(metrics['per_class'][name])
    assert METRIC_KEYS | {'image_auc', 'image_sens@spec0.9'} <= set(metrics['overall'])
    assert metrics['per_class']['Nodule']['ap50'] == 1.0
    assert metrics['per_class']['Mass']['ap50'] == 0.0
    assert metrics['per_class']['Fracture']['ap50'] is None
    assert metrics['overall']['n_gt'] == 2
    # a.png (0.9) and b.png (0) abnormal, c.png (0.2) negative: pairs 1 + 0 -> AUC 0.5.
    assert metrics['overall']['image_auc'] == 0.5
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_bad_prediction_file_gives_one_line_error(tmp_path):
    ann, _ = write_case(tmp_path)
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps([{'file_name': 'a.png', 'syms': ['Nodule'],
                                'boxes': [[10, 10, 5, 60]], 'scores': [0.5]}]))
    proc = run_cli('--ann', ann, '--pred', str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ''
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in proc.stderr
    assert lines[0].startswith('error: ') and 'bad.json: record 0' in lines[0]
    assert 'inverted' in lines[0]


def test_predictions_without_scores_and_missing_files_are_errors(tmp_path, capsys):
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
    try:
        import evaluate as cli
    finally:
        sys.path.pop(0)
    ann, pred = write_case(tmp_path)
    assert cli.main(['--ann', ann, '--pred', ann]) == 2  # GT file has no scores
    assert '"scores"' in capsys.readouterr().err
    assert cli.main(['--ann', str(tmp_path / 'missing.json'), '--pred', pred]) == 2
    assert 'file not found' in capsys.readouterr().err
    assert cli.main(['--ann', ann, '--pred', pred, '--classes', 'A,A']) == 2
    assert 'duplicate class names' in capsys.readouterr().err
