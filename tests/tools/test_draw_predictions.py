"""tools/analysis_tools/draw_predictions.py: ground truth | prediction panels from files, no
model."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np

from tbmm.classes import NIH8_CLASSES
from tbmm.utils import run_cli
from tbmm.visualization import class_color

REPO = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'draw_predictions', REPO / 'tools' / 'analysis_tools' / 'draw_predictions.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def has_color(panel, color, tolerance=10):
    return bool((np.abs(panel.astype(int) - np.array(color)).max(axis=-1) <= tolerance).any())


def test_panels_show_ground_truth_and_the_boxes_above_the_threshold(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((256, 256), 40, np.uint8))
    gt = [dict(file_name='a.png', syms=['Cardiomegaly'], boxes=[[60, 100, 200, 220]])]
    pred = [dict(file_name='a.png', syms=['Effusion', 'Mass'], boxes=[[20, 20, 120, 120],
                                                                     [140, 20, 240, 120]],
                 scores=[0.8, 0.1])]
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    (tmp_path / 'pred.json').write_text(json.dumps(pred))
    args = ['--ann', str(tmp_path / 'gt.json'), '--pred', str(tmp_path / 'pred.json'), '--img-dir',
            str(tmp_path), '--out-dir', str(tmp_path / 'out'), '--classes', 'nih8']
    assert run_cli(load_tool().main, args) == 0
    out = cv2.imread(str(tmp_path / 'out' / 'a_gt_vs_pred.png'))[..., ::-1]  # RGB
    half = out.shape[1] // 2
    left, right = out[:, :half], out[:, half:]
    cardio, effusion, mass = (class_color(n, NIH8_CLASSES)
                              for n in ('Cardiomegaly', 'Effusion', 'Mass'))
    assert has_color(left, cardio) and not has_color(left, effusion)
    assert has_color(right, effusion) and not has_color(right, mass)  # 0.1 < 0.3: not drawn


def test_unknown_name_is_one_error_line(tmp_path, capsys):
    (tmp_path / 'gt.json').write_text(json.dumps([dict(file_name='a.png', syms=[], boxes=[])]))
    (tmp_path / 'pred.json').write_text('[]')
    args = ['--ann', str(tmp_path / 'gt.json'), '--pred', str(tmp_path / 'pred.json'), '--img-dir',
            str(tmp_path), '--out-dir', str(tmp_path / 'out'), '--names', 'b.png']
    assert run_cli(load_tool().main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and "'b.png'" in err
