"""Mixed-precision inference: the config's test_cfg.fp16, --amp/--no-amp, and the CPU guard."""
import pytest
import torch
from mmengine.config import Config

from tbmm.apis import precision
from tbmm.engine.optimizers import bf16_autocast

FAST_BF16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) bfloat16 hardware."""
    def set_fast(fast):
        monkeypatch.setattr(bf16_autocast, 'cpu_has_fast_bf16', lambda: fast)
    return set_fast


def loops(val_fp16=None, test_fp16=None):
    val, test = dict(type='ValLoop'), dict(type='TestLoop')
    if val_fp16 is not None:
        val['fp16'] = val_fp16
    if test_fp16 is not None:
        test['fp16'] = test_fp16
    return Config(dict(val_cfg=val, test_cfg=test))


def test_training_and_inference_amp_of_the_configs(repo_root, cpu_bf16):
    from tbmm.apis.runner import load_config
    fast = repo_root / 'configs/tb_retinanet/fast'
    cfg = load_config(str(fast / 'retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'))
    cpu_bf16(True)
    assert precision.training_amp(cfg) == 'bf16'
    assert precision.inference_amp(cfg, 'cuda') == 'fp16'
    assert precision.inference_amp(cfg, 'cpu') == 'bf16'
    cpu_bf16(False)
    assert precision.inference_amp(cfg, 'cpu') == 'none'
    cfg = load_config(str(fast / 'retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'))
    assert precision.training_amp(cfg) == 'fp16' and precision.inference_amp(cfg, 'cuda') == 'fp16'
    cfg = load_config(str(fast / 'retinanet_r101_fpn_10e_chestxdet_fast.py'))
    assert precision.training_amp(cfg) == 'none' and precision.inference_amp(cfg, 'cuda') == 'none'


def test_dtype_is_float16_on_cuda_and_bfloat16_only_on_cpus_with_the_hardware(cpu_bf16):
    assert precision.inference_autocast_dtype('cuda:1') == (torch.float16, None)
    cpu_bf16(True)
    assert precision.inference_autocast_dtype('cpu') == (torch.bfloat16, None)
    cpu_bf16(False)
    dtype, notice = precision.inference_autocast_dtype('cpu')
    assert dtype is None and 'no bfloat16 hardware' in notice


def test_the_configs_switch_is_kept_forced_or_turned_off_where_it_would_be_slower(cpu_bf16):
    cpu_bf16(True)
    cfg = loops(val_fp16=True)
    assert precision.apply_inference_amp(cfg, 'cpu') is None
    assert cfg.val_cfg.fp16 is True and 'fp16' not in cfg.test_cfg  # nothing asked, nothing set
    assert not precision.asks_for_inference_amp(cfg)
    cfg = loops()
    precision.apply_inference_amp(cfg, 'cpu', amp=True)
    assert cfg.val_cfg.fp16 and cfg.test_cfg.fp16 and precision.asks_for_inference_amp(cfg)
    cfg = loops(True, True)
    precision.apply_inference_amp(cfg, 'cuda', amp=False)
    assert cfg.val_cfg.fp16 is False and cfg.test_cfg.fp16 is False
    cpu_bf16(False)
    cfg = loops(True, True)
    assert 'no bfloat16 hardware' in precision.apply_inference_amp(cfg, 'cpu')
    assert cfg.val_cfg.fp16 is False and cfg.test_cfg.fp16 is False
    assert precision.apply_inference_amp(loops(True, True), 'cuda') is None
    no_validation = Config(dict(val_cfg=None, test_cfg=dict(type='TestLoop', fp16=True)))
    precision.apply_inference_amp(no_validation, 'cuda', amp=True)
    assert no_validation.val_cfg is None
    # An empty loop config is MMEngine's default loop, not "no loop": --amp reaches it too.
    default_loops = Config(dict(val_cfg=dict(), test_cfg=dict()))
    precision.apply_inference_amp(default_loops, 'cuda', amp=True)
    assert default_loops.val_cfg.fp16 is True and default_loops.test_cfg.fp16 is True


def test_bf16_and_fp16_fast_configs_test_in_mixed_precision_and_the_main_config_does_not(repo_root):
    from tbmm.apis.runner import load_config
    fast = repo_root / 'configs/tb_retinanet/fast'
    for name in ('fast_bf16', 'fast_fp16', 'fast_bf16_compile', 'fast_fp16_compile'):
        cfg = load_config(str(fast / f'retinanet_r101_fpn_10e_chestxdet_{name}.py'))
        assert cfg.val_cfg.fp16 and cfg.test_cfg.fp16 and cfg.test_cfg.type == 'TestLoop'
    for config in (fast / 'retinanet_r101_fpn_10e_chestxdet_fast.py',
                   repo_root / 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'):
        assert not precision.asks_for_inference_amp(load_config(str(config)))


def test_test_config_follows_amp_and_the_cpu(repo_root, tmp_path, cpu_bf16):
    from tbmm.apis import prepare_test_config
    checkpoint = tmp_path / 'x.pth'
    checkpoint.write_bytes(b'')
    config = str(repo_root / FAST_BF16)
    cpu_bf16(True)
    on_cpu = not torch.cuda.is_available()
    assert prepare_test_config(config, str(checkpoint), work_dir=str(tmp_path)).test_cfg.fp16
    cfg = prepare_test_config(config, str(checkpoint), work_dir=str(tmp_path), amp=False)
    assert cfg.test_cfg.fp16 is False
    if on_cpu:
        cpu_bf16(False)
        cfg = prepare_test_config(config, str(checkpoint), work_dir=str(tmp_path))
        assert cfg.test_cfg.fp16 is False and cfg.val_cfg.fp16 is False


PHANTOM = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'
FAST_FP16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'


@pytest.fixture
def runner_device(monkeypatch):
    from tbmm.apis import runner
    return lambda device: monkeypatch.setattr(runner, '_runner_device', lambda: device)


def test_training_amp_on_the_cpu_is_bfloat16_or_a_clear_error(repo_root, tmp_path, runner_device):
    from tbmm.apis import prepare_train_config
    from tbmm.apis.runner import RunConfigError
    runner_device('cpu')
    cfg = prepare_train_config(str(repo_root / PHANTOM), work_dir=str(tmp_path), amp=True,
                               amp_dtype='bfloat16')
    # MMEngine's AmpOptimWrapper asserts a GPU: the same autocast without loss scale instead
    assert cfg.optim_wrapper.type == 'BF16AutocastOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper and 'dtype' not in cfg.optim_wrapper
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'  # the config's optimizer stays
    with pytest.raises(RunConfigError, match='float16 mixed precision .* trains on CUDA only'):
        prepare_train_config(str(repo_root / PHANTOM), work_dir=str(tmp_path), amp=True)
    with pytest.raises(RunConfigError, match='fast_fp16.py: float16'):
        prepare_train_config(str(repo_root / FAST_FP16), work_dir=str(tmp_path))
    runner_device('cuda')
    cfg = prepare_train_config(str(repo_root / PHANTOM), work_dir=str(tmp_path), amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.dtype == 'float16'


def test_train_cli_refuses_float16_on_the_cpu_in_one_line(repo_root, tmp_path, runner_device,
                                                          capsys):
    from tbmm.utils import run_cli
    from tools.train import main
    runner_device('cpu')
    status = run_cli(main, [str(repo_root / PHANTOM), '--amp', '--work-dir', str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith('error: ') and 'CUDA only' in err[-1]
