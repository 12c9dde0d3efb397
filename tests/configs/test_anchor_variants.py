"""The small-anchor variant covers the small lesions of real ChestX-Det boxes, losing no class."""
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


def test_phantom_1024_pair_has_the_real_geometry_and_differs_only_in_anchors():
    # The phantom comparison in docs/anchors.md: the main config's anchors vs the small-anchor
    # variant's, on 1024 px phantom images (strides, anchors and lesion sizes as in the real data).
    main = Config.fromfile(str(CONFIGS / 'retinanet_r101_fpn_10e_chestxdet.py'))
    small = Config.fromfile(
        str(CONFIGS / 'anchors' / 'retinanet_r101_fpn_10e_chestxdet_small-anchors.py'))
    base = Config.fromfile(str(CONFIGS / 'anchors' / 'retinanet_r18_fpn_phantom-1024.py'))
    variant = Config.fromfile(
        str(CONFIGS / 'anchors' / 'retinanet_r18_fpn_phantom-1024_small-anchors.py'))
    def anchors(cfg):
        return cfg.model.bbox_head.anchor_generator.to_dict()

    assert anchors(base) == anchors(main)
    assert anchors(variant) == anchors(small)
    for cfg in (base, variant):
        for loader in (cfg.train_dataloader, cfg.val_dataloader):
            resize = [t for t in loader.dataset.pipeline if t['type'] == 'Resize']
            assert resize[0]['scale'] == (1024, 1024)
    base_dict, variant_dict = base.to_dict(), variant.to_dict()
    for cfg_dict in (base_dict, variant_dict):
        cfg_dict['model']['bbox_head'].pop('anchor_generator')
    assert base_dict == variant_dict
