"""The fast config family builds, loads 1-channel images and trains a step under bf16 autocast."""
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tbmm.benchmark import BenchmarkSettings, prepare_config, synthetic_batch
from tbmm.models.layers.folded_batchnorm import FoldedBNConv2d

FAST_DIR = 'configs/tb_retinanet/fast/'
FAST_BF16 = FAST_DIR + 'retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'


def _build(config, settings):
    from mmdet.registry import MODELS
    cfg = prepare_config(config, settings)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def test_family_configs_load(repo_root):
    from tbmm.apis.runner import load_config
    for name, wrapper in (('fast', 'OptimWrapper'), ('fast_bf16', 'BF16AutocastOptimWrapper'),
                          ('fast_fp16', 'AmpOptimWrapper'),
                          ('fast_bf16_compile', 'BF16AutocastOptimWrapper'),
                          ('fast_fp16_compile', 'AmpOptimWrapper')):
        cfg = load_config(str(repo_root / FAST_DIR / f'retinanet_r101_fpn_10e_chestxdet_{name}.py'))
        assert cfg.optim_wrapper.type == wrapper
        assert cfg.model.get('compile', False) == name.endswith('_compile')
        assert cfg.model.type == 'FastRetinaNet' and cfg.model.backbone.depth == 101
        assert cfg.model.bbox_head.loss_cls.type == 'Float32FocalLoss'
        assert cfg.train_dataloader.dataset.pipeline[0] == dict(type='LoadXRayImageFromFile',
                                                                channels=1)


def test_fast_bf16_trains_one_step_in_bf16_on_cpu(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    cfg, model = _build(FAST_BF16, BenchmarkSettings(image_size=128, batch_size=2))
    conv = model.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    # Every conv->BN pair of the R-101 (stem, 33 blocks x 3, 4 shortcuts) folds its frozen BN.
    assert sum(isinstance(m, FoldedBNConv2d) for m in model.backbone.modules()) == 104
    bn_before = model.backbone.layer3[0].bn2.weight.detach().clone()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(optim_wrapper).__name__ == 'BF16AutocastOptimWrapper'
    before = model.bbox_head.retina_cls.weight.detach().clone()
    model.train()
    losses = model.train_step(synthetic_batch(2, 128, channels=1), optim_wrapper)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_cls'].dtype == torch.float32
    assert not torch.equal(before, model.bbox_head.retina_cls.weight)
    # The folded BN's affine parameters still train, as in the main config.
    assert not torch.equal(bn_before, model.backbone.layer3[0].bn2.weight)
    assert model.bbox_head.retina_cls.weight.dtype == torch.float32


def test_bf16_inference_decodes_boxes_in_float32(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    _, model = _build(FAST_BF16, BenchmarkSettings(image_size=128, batch_size=1))
    model.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        result = model.test_step(synthetic_batch(1, 128, channels=1, with_boxes=False))[0]
    assert result.pred_instances.bboxes.dtype == torch.float32


def test_fast_data_pipeline_loads_one_channel(repo_root, monkeypatch, tiny_phantom):
    monkeypatch.chdir(repo_root)
    settings = BenchmarkSettings(
        image_size=128, data=f'{tiny_phantom}/annotation/train.json,{tiny_phantom}/train_data')
    cfg = prepare_config(FAST_BF16, settings)
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False, pin_memory=False)
    init_default_scope('mmdet')
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    assert batch['inputs'][0].shape == (1, 128, 128)


def test_phantom_fast_bf16_differs_from_the_phantom_config_only_in_speed_levers(repo_root,
                                                                               monkeypatch):
    # The accuracy check in docs/benchmarks.md trains both; only the levers may differ.
    from tbmm.apis.runner import load_config
    from tbmm.benchmark import run_benchmark
    monkeypatch.chdir(repo_root)
    phantom = load_config('configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py')
    fast = load_config('configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py')
    assert fast.model.type == 'FastRetinaNet' and fast.model.channels_last
    assert fast.optim_wrapper.type == 'BF16AutocastOptimWrapper'
    assert fast.optim_wrapper.optimizer == dict(phantom.optim_wrapper.optimizer, fused=True)
    assert fast.optim_wrapper.clip_grad == phantom.optim_wrapper.clip_grad
    assert fast.train_dataloader.dataset.pipeline[0] == dict(type='LoadXRayImageFromFile',
                                                             channels=1)
    for part in ('backbone', 'neck'):
        assert fast.model[part] == phantom.model[part]
    for key in ('anchor_generator', 'feat_channels', 'stacked_convs', 'norm_cfg', 'loss_bbox'):
        assert fast.model.bbox_head[key] == phantom.model.bbox_head[key]
    for key in ('param_scheduler', 'train_cfg', 'auto_scale_lr'):
        assert fast[key] == phantom[key]
    assert fast.train_dataloader.batch_size == phantom.train_dataloader.batch_size
    # and it trains a step on the CPU (bf16 autocast, 1-channel input)
    result = run_benchmark(
        'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py',
        BenchmarkSettings(task='train', image_size=64, batch_size=2, iters=1, warmup=0))
    assert result.amp == 'bf16' and result.img_per_s > 0


def test_phantom_fast_fp16_differs_only_in_precision(repo_root, monkeypatch):
    # The GPU precision check (.dev_scripts/gpu_checks.sh precision) trains it next to the bf16 one.
    from tbmm.apis.runner import load_config
    monkeypatch.chdir(repo_root)
    bf16 = load_config('configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py')
    fp16 = load_config('configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_fp16.py')
    assert fp16.optim_wrapper.type == 'AmpOptimWrapper'
    assert fp16.optim_wrapper.dtype == 'float16' and fp16.optim_wrapper.loss_scale == 'dynamic'
    assert fp16.optim_wrapper.optimizer == bf16.optim_wrapper.optimizer
    assert fp16.optim_wrapper.clip_grad == bf16.optim_wrapper.clip_grad
    for key in ('model', 'train_dataloader', 'param_scheduler', 'train_cfg'):
        assert fp16[key] == bf16[key]


def test_compiled_parts_of_a_deep_copy_run_the_copys_weights(repo_root, monkeypatch):
    # MMEngine's EMA hook and averaged models deep-copy the model; the copy must not call the
    # original's compiled forward. The 'eager' backend traces like inductor without compiling C++.
    import copy

    from mmdet.registry import MODELS

    from tbmm.apis.runner import load_config
    monkeypatch.chdir(repo_root)
    cfg = load_config('configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py')
    cfg.model.compile = dict(backend='eager')
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model).eval()
    images = torch.rand(1, 3, 64, 64)  # the data preprocessor's output: three channels
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for param in twin.parameters():
            param.zero_()
        for part in ('backbone', 'neck'):
            original = getattr(model, part)
            copied = getattr(twin, part)
            features = model.backbone(images) if part == 'neck' else images
            out, out_copy = original(features), copied(features)
            assert any(o.abs().sum() > 0 for o in out)
            # Zero weights: the copy's ResNet/FPN outputs are all zero (BN shifts are zeroed too).
            assert all(float(o.abs().sum()) == 0.0 for o in out_copy), part
