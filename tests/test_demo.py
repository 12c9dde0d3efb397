"""The demo end to end at a small scale: phantom data -> train -> test -> report and overlays,
and it learns."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from demo.phantom_demo import run_demo
from tbmm.datasets.annotations import read_annotations


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    data_root, work_dir = str(root / 'phantom'), str(root / 'work')
    metrics = run_demo(data_root=data_root, work_dir=work_dir, num_train=120, num_test=40,
                       image_size=256, seed=0, max_epochs=MAX_EPOCHS)
    return metrics, data_root, work_dir


MAX_EPOCHS = 4
# An untrained detector scores ~0; a few hundred images of training must give clearly more.
MIN_MAP50 = 0.05


def test_phantom_training_reaches_a_minimum_ap(demo_run):
    metrics, _, work_dir = demo_run
    assert metrics['chestxdet/mAP50'] >= MIN_MAP50, metrics['chestxdet/mAP50']
    with open(osp.join(work_dir, 'test.metrics.json')) as f:
        result = json.load(f)
    assert result['overall']['ap50'] == pytest.approx(metrics['chestxdet/mAP50'], abs=1e-4)
    # The easiest phantom class (large dark hyperlucent region) is learnt well by then.
    assert result['per_class']['Emphysema']['ap50'] >= 0.3


def test_demo_writes_overlays_and_predictions(demo_run):
    _, data_root, work_dir = demo_run
    overlay_dir = osp.join(work_dir, 'overlays')
    predictions = read_annotations(osp.join(overlay_dir, 'predictions.json'), require_scores=True)
    assert predictions
    gt = {r['file_name']: r for r in read_annotations(osp.join(data_root, 'annotation',
                                                                'test.json'))}
    assert any(not gt[p['file_name']]['boxes'] for p in predictions)  # a negative among them
    for pred in predictions:
        overlay = cv2.imread(osp.join(overlay_dir, pred['file_name'][:-4] + '_gt_vs_pred.png'))
        image = cv2.imread(osp.join(data_root, 'test_data', pred['file_name']))
        # Each panel is the image plus a side panel for the title and legend.
        assert overlay is not None and overlay.shape[0] == image.shape[0]
        assert overlay.shape[1] > 2 * image.shape[1]
        # The left panel's image has the ground truth drawn on it, and only where there is some.
        left = overlay[:, :image.shape[1]]
        assert np.any(left != image) == bool(gt[pred['file_name']]['boxes'])


def test_demo_writes_the_report(demo_run):
    _, _, work_dir = demo_run
    page = open(osp.join(work_dir, 'test.report.html'), encoding='utf-8').read()
    for section in ('metrics', 'confusion', 'errors', 'gallery', 'training', 'dataset'):
        assert f'<section id="{section}">' in page
    with open(osp.join(work_dir, 'test.metrics.json')) as f:
        assert json.load(f)['bootstrap']['n_units'] == 40  # intervals from the 40 test images


def test_demo_reuses_the_phantom_set(demo_run, capsys):
    _, data_root, _ = demo_run
    from tbmm.datasets.phantom import ensure_phantom_dataset
    before = osp.getmtime(osp.join(data_root, 'annotation', 'train.json'))
    ensure_phantom_dataset(data_root, num_train=120, num_test=40, image_size=256, seed=0)
    assert osp.getmtime(osp.join(data_root, 'annotation', 'train.json')) == before
    assert 'already in' in capsys.readouterr().out
