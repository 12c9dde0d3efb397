"""The config family resolves to what the README promises."""
from pathlib import Path

import pytest
from mmengine.config import Config

from tbmm.classes import CHESTXDET10_CLASSES, CHESTXDET13_CLASSES, DEFAULT_CLASSES

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'tb_retinanet'
MAIN = CONFIGS / 'retinanet_r101_fpn_10e_chestxdet.py'


def load(name):
    return Config.fromfile(str(CONFIGS / name))


def resize_scale(pipeline):
    return [t['scale'] for t in pipeline if t['type'] == 'Resize']


def test_main_config_is_the_source_report_model():
    cfg = Config.fromfile(str(MAIN))
    model = cfg.model
    assert model.type == 'RetinaNet'
    assert model.backbone.type == 'ResNet' and model.backbone.depth == 101
    assert model.neck.type == 'FPN'
    assert model.neck.add_extra_convs == 'on_input'
    assert model.neck.start_level == 1 and model.neck.num_outs == 5  # P3-P7
    head = model.bbox_head
    # mmdet's RetinaHead and FocalLoss, with boxes of several classes training all of them, and
    # float32 score/box maps (a no-op in float32; boxes decoded in float32 under --amp)
    assert head.type == 'Float32OutputRetinaHead' and head.num_classes == 9
    from tbmm.models.dense_heads import Float32OutputRetinaHead, MultiLabelRetinaHead
    assert issubclass(Float32OutputRetinaHead, MultiLabelRetinaHead)
    assert head.stacked_convs == 4
    assert head.loss_cls.type == 'MultiLabelFocalLoss' and head.loss_cls.use_sigmoid
    assert head.loss_cls.gamma == 2.0 and head.loss_cls.alpha == 0.25
    assert head.anchor_generator.octave_base_scale == 4
    assert head.anchor_generator.scales_per_octave == 3
    assert list(head.anchor_generator.strides) == [8, 16, 32, 64, 128]
    assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == DEFAULT_CLASSES
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert resize_scale(loader.dataset.pipeline) == [(1024, 1024)]
        # Negatives must stay: no filtering of images without boxes.
        assert not (loader.dataset.get('filter_cfg') or {}).get('filter_empty_gt', False)
        assert loader.dataset.type == 'ChestXDetDataset'
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_cfg.max_epochs == 10 and cfg.train_cfg.val_interval == 1
    assert cfg.auto_scale_lr.enable and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.default_hooks.checkpoint.save_best == 'chestxdet/mAP50'
    assert cfg.val_evaluator.type == 'ChestXDetMetric'
    assert cfg.custom_imports.imports == ['tbmm.plugin']


def flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict):
            out.update(flatten(v, key + '.'))
        else:
            out[key] = v
    return out


@pytest.mark.parametrize('name', [
    'retinanet_r50_fpn_10e_chestxdet.py', 'retinanet_x101-64x4d_fpn_10e_chestxdet.py'])
def test_backbone_variants_change_only_the_backbone(name):
    main = flatten(Config.fromfile(str(MAIN)).to_dict())
    variant = flatten(load(name).to_dict())
    changed = {k for k in set(main) | set(variant) if main.get(k) != variant.get(k)}
    assert changed, 'variant should differ from the main config'
    assert all(k.startswith('model.backbone.') for k in changed), changed


@pytest.mark.parametrize('name,classes', [
    ('retinanet_r101_fpn_10e_chestxdet10.py', CHESTXDET10_CLASSES),
    ('retinanet_r101_fpn_10e_chestxdet13.py', CHESTXDET13_CLASSES)])
def test_class_list_variants(name, classes):
    cfg = load(name)
    assert cfg.model.bbox_head.num_classes == len(classes)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert tuple(loader.dataset.metainfo.classes) == classes


def test_phantom_config_inherits_the_main_model():
    cfg = load('phantom/retinanet_r18_fpn_phantom.py')
    head = cfg.model.bbox_head
    assert cfg.model.type == 'RetinaNet' and head.type == 'Float32OutputRetinaHead'
    assert head.num_classes == 9 and head.stacked_convs == 4
    assert head.loss_cls.gamma == 2.0 and head.loss_cls.alpha == 0.25
    assert cfg.model.neck.add_extra_convs == 'on_input' and cfg.model.neck.num_outs == 5
    assert cfg.model.backbone.init_cfg is None  # no download
