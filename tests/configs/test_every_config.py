"""Every config under configs/ loads, builds its model through mmdet's registry, and trains with
the learning rate its README recipe states when two processes run it (MMEngine's auto_scale_lr).

A config added without an entry in LR_WORLD_SIZE_2 fails the test: say what LR it trains with."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'
CONFIGS = sorted(p.relative_to(CONFIG_ROOT).as_posix() for p in CONFIG_ROOT.rglob('*.py'))
# Parts other configs inherit: data sets, loaders, evaluator; no model.
BASES = {'tb_retinanet/_base_/chestxdet_detection.py'}

# The LR of a two-process run (world size 2), worked out by hand. The ChestX-Det and NIH GPU
# recipes keep mmdet's schedule_1x SGD LR of 0.01 per 16 images (auto_scale_lr on): 2 processes x
# 2 images per process -> 0.01 x 4 / 16 = 0.0025; the fast configs' 4 images per process -> 0.005.
# The CPU recipes (phantom, NIH 8-class CPU) train with AdamW at 2e-3 and do not scale.
LR_WORLD_SIZE_2 = {
    'tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py': 0.0025,
    'tb_retinanet/retinanet_r101_fpn_10e_chestxdet10.py': 0.0025,
    'tb_retinanet/retinanet_r101_fpn_10e_chestxdet13.py': 0.0025,
    'tb_retinanet/retinanet_r101_fpn_10e_chestxdet_class-balanced.py': 0.0025,
    'tb_retinanet/retinanet_r50_fpn_10e_chestxdet.py': 0.0025,
    'tb_retinanet/retinanet_x101-64x4d_fpn_10e_chestxdet.py': 0.0025,
    'tb_retinanet/anchors/retinanet_r101_fpn_10e_chestxdet_small-anchors.py': 0.0025,
    'tb_retinanet/nih/retinanet_r101_fpn_nih8.py': 0.0025,
    'tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast.py': 0.005,
    'tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py': 0.005,
    'tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16_compile.py': 0.005,
    'tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py': 0.005,
    'tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16_compile.py': 0.005,
    'tb_retinanet/phantom/retinanet_r18_fpn_phantom.py': 2e-3,
    'tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py': 2e-3,
    'tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_fp16.py': 2e-3,
    'tb_retinanet/anchors/retinanet_r18_fpn_phantom-1024.py': 2e-3,
    'tb_retinanet/anchors/retinanet_r18_fpn_phantom-1024_small-anchors.py': 2e-3,
    'tb_retinanet/anchors/retinanet_r18_fpn_phantom_small-anchors.py': 2e-3,
    'tb_retinanet/nih/retinanet_nih8_cpu.py': 2e-3,
    'tb_retinanet/nih/retinanet_nih8_cpu_flip.py': 2e-3,
}


def test_every_config_is_listed():
    assert set(CONFIGS) == set(LR_WORLD_SIZE_2) | BASES


def build_model(cfg):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import tbmm.plugin  # noqa: F401  (tbmm's heads, losses, data set in mmdet's registries)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg.backbone.init_cfg = None  # no ImageNet download
    return MODELS.build(model_cfg)


class _TwoProcessRunner:
    """What ``Runner.scale_lr`` reads of a runner, for a run of 2 processes not yet trained."""
    world_size = 2

    def __init__(self, cfg):
        from mmengine.logging import MMLogger
        self._train_dataloader = cfg.train_dataloader  # a config dict, as before the build
        self.param_schedulers = cfg.get('param_scheduler')
        self.logger = MMLogger.get_current_instance()


@pytest.mark.parametrize('config', [c for c in CONFIGS if c not in BASES])
def test_config_builds_its_model_and_scales_the_lr_for_two_processes(config):
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner

    from tbmm.apis.runner import config_classes
    cfg = Config.fromfile(str(CONFIG_ROOT / config))
    model = build_model(cfg)
    assert isinstance(model, torch.nn.Module)
    classes = config_classes(cfg, 'train_dataloader')
    assert model.bbox_head.num_classes == len(classes), config

    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if optim_cfg.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        # MMEngine's AmpOptimWrapper asserts a GPU; the LR scaling is the same for any wrapper.
        optim_cfg = dict(type='OptimWrapper', optimizer=optim_cfg.optimizer)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    configured = {group['lr'] for group in optim_wrapper.optimizer.param_groups}
    Runner.scale_lr(_TwoProcessRunner(cfg), optim_wrapper, cfg.get('auto_scale_lr'))
    scaled = {group['lr'] for group in optim_wrapper.optimizer.param_groups}
    assert len(configured) == 1 and len(scaled) == 1
    assert scaled.pop() == pytest.approx(LR_WORLD_SIZE_2[config], rel=1e-12), config


def test_base_configs_have_no_model():
    for config in BASES:
        assert 'model' not in Config.fromfile(str(CONFIG_ROOT / config))
