"""Configs that patch their base change only the items they mean to.

Each config family derives its pipelines from its base's (a Resize scale, a 1-channel decode, an
augmentation swap) and points its loaders at them; these tests load the base and the variant
separately and check that everything else in the pipelines, the loaders and the class lists is
the base's. The class lists come from tbmm.classes, imported by the configs themselves.
"""
import copy
from pathlib import Path

import pytest
from mmengine.config import Config

from tbmm.classes import CHESTXDET10_CLASSES, CHESTXDET13_CLASSES, DEFAULT_CLASSES, NIH8_CLASSES

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs' / 'tb_retinanet'
MAIN = 'retinanet_r101_fpn_10e_chestxdet.py'
PHANTOM = 'phantom/retinanet_r18_fpn_phantom.py'
FAST = 'fast/retinanet_r101_fpn_10e_chestxdet_fast.py'
PHANTOM_FAST = 'phantom/retinanet_r18_fpn_phantom_fast_bf16.py'
FIXTURES = ROOT / 'tests' / 'fixtures' / 'configs'
FIXTURE = FIXTURES / 'phantom_tiny.py'
ALL_CONFIGS = (sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts)
               + sorted(FIXTURES.glob('*.py')))


def load(name):
    return Config.fromfile(str(CONFIGS / name)).to_dict()


def with_changes(pipeline, transform, **changes):
    """``pipeline`` with ``changes`` applied to its steps of type ``transform`` (written here, not
    taken from the configs, so a config's own edit cannot vouch for itself)."""
    edited = copy.deepcopy(pipeline)
    steps = [step for step in edited if step['type'] == transform]
    assert steps, f'no {transform} in {pipeline}'
    for step in steps:
        step.update(changes)
    return edited


def without(pipeline, *transforms):
    return [step for step in pipeline if step['type'] not in transforms]


def loader_pipelines(cfg):
    """The pipelines the three loaders really use (through a ClassBalancedDataset wrapper)."""
    def dataset(loader):
        data = cfg[loader]['dataset']
        return data.get('dataset', data)
    return [dataset(loader)['pipeline']
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


@pytest.mark.parametrize('config', ALL_CONFIGS, ids=lambda p: p.name)
def test_loaders_use_the_configs_own_pipelines(config):
    # A config that edits train_pipeline / test_pipeline must point its loaders at the new lists.
    cfg = Config.fromfile(str(config)).to_dict()
    train, val, test = loader_pipelines(cfg)
    assert train == cfg['train_pipeline']
    assert val == cfg['test_pipeline'] and test == cfg['test_pipeline']


@pytest.mark.parametrize('config', ALL_CONFIGS, ids=lambda p: p.name)
def test_dumped_config_loads_back_the_same(config, tmp_path):
    # The tools write the resolved config into the work dir; imports in a config must not break it.
    cfg = Config.fromfile(str(config))
    dumped = tmp_path / 'dumped.py'
    cfg.dump(str(dumped))
    assert Config.fromfile(str(dumped)).to_dict() == cfg.to_dict()


@pytest.mark.parametrize('name,scale', [
    (PHANTOM, (256, 256)), ('anchors/retinanet_r18_fpn_phantom-1024.py', (1024, 1024))])
def test_phantom_pipelines_are_the_main_ones_at_their_size(name, scale):
    main, cfg = load(MAIN), load(name)
    for key in ('train_pipeline', 'test_pipeline'):
        assert cfg[key] == with_changes(main[key], 'Resize', scale=scale), key
    assert cfg['image_scale'] == scale


def test_fixture_pipelines_are_the_phantom_ones_at_128():
    phantom, cfg = load(PHANTOM), Config.fromfile(str(FIXTURE)).to_dict()
    for key in ('train_pipeline', 'test_pipeline'):
        assert cfg[key] == with_changes(phantom[key], 'Resize', scale=(128, 128)), key
    assert cfg['model'] == phantom['model']
    fast = Config.fromfile(str(FIXTURES / 'phantom_tiny_fast.py')).to_dict()
    assert fast['test_pipeline'] == with_changes(cfg['test_pipeline'], 'LoadXRayImageFromFile',
                                                 channels=1)
    assert fast['train_pipeline'] == with_changes(cfg['train_pipeline'], 'LoadXRayImageFromFile',
                                                  channels=1)
    assert loader_pipelines(fast) == [fast['train_pipeline'], fast['test_pipeline'],
                                      fast['test_pipeline']]


@pytest.mark.parametrize('name,base', [(FAST, MAIN), (PHANTOM_FAST, PHANTOM)])
def test_fast_pipelines_decode_one_channel_and_change_nothing_else(name, base):
    reference, cfg = load(base), load(name)
    for key in ('train_pipeline', 'test_pipeline'):
        assert cfg[key] == with_changes(reference[key], 'LoadXRayImageFromFile', channels=1), key


def test_phantom_fast_config_has_the_fast_configs_model_levers():
    # The model levers are written again in the phantom fast config (MMEngine refuses `model` in two
    # bases).
    fast, phantom_fast = load(FAST)['model'], load(PHANTOM_FAST)['model']
    for key in ('type', 'channels_last', 'fold_frozen_bn', 'data_preprocessor'):
        assert phantom_fast[key] == fast[key], key
    assert phantom_fast['bbox_head']['type'] == fast['bbox_head']['type']
    assert phantom_fast['bbox_head']['loss_cls'] == fast['bbox_head']['loss_cls']


def test_nih_cpu_pipelines_swap_the_flip_for_xray_augmentation():
    phantom = load(PHANTOM)
    augmented = load('nih/retinanet_nih8_cpu.py')
    flip = load('nih/retinanet_nih8_cpu_flip.py')
    xray = ('RandomAffine', 'Brightness', 'Contrast')
    assert without(augmented['train_pipeline'], *xray) == without(phantom['train_pipeline'],
                                                                  'RandomFlip')
    assert [step['type'] for step in augmented['train_pipeline']][-4:] == [*xray, 'PackDetInputs']
    assert augmented['test_pipeline'] == phantom['test_pipeline']
    assert flip['train_pipeline'] == phantom['train_pipeline']  # the phantom's own, flip included


@pytest.mark.parametrize('name,classes', [
    (MAIN, DEFAULT_CLASSES),
    ('retinanet_r101_fpn_10e_chestxdet10.py', CHESTXDET10_CLASSES),
    ('retinanet_r101_fpn_10e_chestxdet13.py', CHESTXDET13_CLASSES),
    ('nih/retinanet_r101_fpn_nih8.py', NIH8_CLASSES),
    ('nih/retinanet_nih8_cpu.py', NIH8_CLASSES),
    ('nih/retinanet_nih8_cpu_flip.py', NIH8_CLASSES)])
def test_class_lists_come_from_tbmm_classes(name, classes):
    cfg = load(name)
    assert cfg['model']['bbox_head']['num_classes'] == len(classes)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert tuple(cfg[loader]['dataset']['metainfo']['classes']) == classes, loader
