"""The small-anchor variant covers the small lesions of real ChestX-Det boxes without losing others."""
import json
from pathlib import Path

from mmengine.config import Config

from tbmm.analysis.anchors import anchor_coverage, anchor_layout_from_config
from tbmm.classes import DEFAULT_CLASSES

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'chestxdet_sample.json'
CONFIGS = ROOT / 'configs' / 'tb_retinanet'


def coverage(config):
    records = json.loads(FIXTURE.read_text())
    layout = anchor_layout_from_config(Config.fromfile(str(config)))
    result = anchor_coverage(records, layout, classes=list(DEFAULT_CLASSES), iou_thrs=(0.5, ))
    return {name: entry for name, entry in result['per_class'].items()}


def share(entry):
    return entry['covered']['0.5']


def test_small_anchors_raise_small_class_coverage_and_keep_the_rest():
    default = coverage(CONFIGS / 'retinanet_r101_fpn_10e_chestxdet.py')
    variant = coverage(CONFIGS / 'anchors' / 'retinanet_r101_fpn_10e_chestxdet_small-anchors.py')
    for name in DEFAULT_CLASSES:
        assert share(variant[name]) >= share(default[name]), name
    assert share(default['Calcification']) < 0.9
    assert share(variant['Calcification']) >= 0.97
    assert share(variant['Nodule']) >= 0.97
