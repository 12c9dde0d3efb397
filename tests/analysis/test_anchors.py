"""Anchor coverage: the nearby-anchor search equals a search over every anchor."""
import numpy as np
import pytest

from tbmm.analysis.anchors import (
    anchor_coverage,
    anchor_layout_from_config,
    assigner_pos_iou_thr,
    input_size_of,
)
from tbmm.apis.runner import load_config

MAIN = 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'
PHANTOM = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'


@pytest.fixture(scope='module')
def main_cfg(repo_root):
    return load_config(str(repo_root / MAIN))


@pytest.fixture(scope='module')
def phantom_layout(repo_root):
    return anchor_layout_from_config(load_config(str(repo_root / PHANTOM)), 256)


def brute_force_best_iou(boxes, anchors):
    best = np.zeros(len(boxes))
    for i, box in enumerate(boxes):
        iw = np.clip(np.minimum(box[2], anchors[:, 2]) - np.maximum(box[0], anchors[:, 0]), 0, None)
        ih = np.clip(np.minimum(box[3], anchors[:, 3]) - np.maximum(box[1], anchors[:, 1]), 0, None)
        inter = iw * ih
        union = ((box[2] - box[0]) * (box[3] - box[1])
                 + (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1]) - inter)
        best[i] = (inter / union).max()
    return best


def test_layout_follows_the_config(main_cfg):
    layout = anchor_layout_from_config(main_cfg, 1024)
    assert [level.grid_size for level in layout.levels] == [(128, 128), (64, 64), (32, 32),
                                                            (16, 16), (8, 8)]
    assert all(level.base_anchors.shape == (9, 4) for level in layout.levels)
    # Smallest anchor: octave base 4 x stride 8 = 32 px square.
    smallest = layout.levels[0].base_anchors
    sides = np.sqrt((smallest[:, 2] - smallest[:, 0]) * (smallest[:, 3] - smallest[:, 1]))
    assert sides.min() == pytest.approx(32)
    assert assigner_pos_iou_thr(main_cfg) == 0.5


def test_nearby_search_equals_the_search_over_every_anchor(phantom_layout):
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 256, (300, 2))
    sizes = np.exp(rng.uniform(np.log(2), np.log(300), (300, 2)))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1).clip(0, 256)
    boxes = boxes[(boxes[:, 2] > boxes[:, 0] + 0.5) & (boxes[:, 3] > boxes[:, 1] + 0.5)]
    fast = phantom_layout.best_anchor_iou(boxes)
    slow = brute_force_best_iou(boxes, phantom_layout.all_anchors())
    np.testing.assert_allclose(fast, slow, atol=1e-9)


def test_a_box_equal_to_an_anchor_is_covered_and_a_tiny_box_is_not(main_cfg):
    layout = anchor_layout_from_config(main_cfg, 1024)
    level = layout.levels[1]  # stride 16
    anchor = level.base_anchors[4] + np.array([16 * 20, 16 * 30] * 2)  # grid position (20, 30)
    records = [{'file_name': 'a.png', 'syms': ['Nodule', 'Calcification'],
                'boxes': [anchor.tolist(), [500, 500, 505, 505]]}]
    coverage = anchor_coverage(records, layout, iou_thrs=(0.5, 0.4))
    assert layout.best_anchor_iou([anchor])[0] == pytest.approx(1.0)
    assert coverage['per_class']['Nodule']['covered'] == {'0.4': 1.0, '0.5': 1.0}
    assert coverage['per_class']['Calcification']['covered'] == {'0.4': 0.0, '0.5': 0.0}
    assert coverage['per_class']['Calcification']['median_best_iou'] < 0.1
    assert coverage['all']['boxes'] == 2 and coverage['all']['covered']['0.5'] == 0.5


def test_boxes_are_scaled_like_the_training_resize(main_cfg):
    # A 2048 px image is resized to 1024 (keep_ratio): its boxes shrink by half.
    assert input_size_of(main_cfg, (2048, 2048)) == (1024, 1024)
    layout = anchor_layout_from_config(main_cfg, 2048)
    assert layout.box_scale == (0.5, 0.5)
    anchor = layout.levels[0].base_anchors[4] + np.array([8 * 40, 8 * 40] * 2)
    records = [{'file_name': 'a.png', 'syms': ['Nodule'], 'boxes': [(anchor * 2).tolist()]}]
    assert anchor_coverage(records, layout)['per_class']['Nodule']['covered']['0.5'] == 1.0


def test_class_without_boxes_is_na(phantom_layout):
    coverage = anchor_coverage([{'file_name': 'a', 'syms': [], 'boxes': []}], phantom_layout,
                               classes=['Mass'])
    assert coverage['per_class']['Mass'] == {'boxes': 0, 'median_best_iou': None,
                                             'covered': {'0.5': None}}
