"""A non-finite loss stops training at once, with a message naming the likely cause, and before
the checkpoint of that iteration is written."""
import math
import re
from types import SimpleNamespace

import pytest
import torch

from tbmm.engine.hooks import NonFiniteLossError, StopOnNonFiniteLossHook
from tests.engine.tool_runs import REPO, TINY_CONFIG, data_overrides, error_lines, run_tool, tail


def test_absurd_learning_rate_stops_train_py_before_the_nan_checkpoint(tiny_phantom, tmp_path):
    work_dir = tmp_path / 'work'
    proc = run_tool(
        'train', TINY_CONFIG, '--work-dir', work_dir, '--cfg-options',
        *data_overrides(tiny_phantom, train_images=8, test_images=2), 'train_cfg.max_epochs=1',
        'optim_wrapper.optimizer.lr=1e30',
        # A checkpoint after every iteration, so "not the NaN one" can be checked to the iteration.
        'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.save_optimizer=False')
    assert proc.returncode == 2, tail(proc.stdout + proc.stderr)
    assert 'Traceback' not in proc.stderr
    [message] = error_lines(proc.stderr)
    assert 'learning rate' in message and 'lower optim_wrapper.optimizer.lr' in message
    assert 'Training stopped before writing a NaN checkpoint' in message
    failed_at = int(re.search(r'iteration (\d+)', message).group(1))
    assert failed_at >= 2, 'the first iteration runs on untouched weights and must be finite'
    saved = sorted(int(p.stem.split('_')[1]) for p in work_dir.glob('iter_*.pth'))
    assert saved == list(range(1, failed_at)), f'NaN at iteration {failed_at}, saved {saved}'


def fake_runner(iteration=0, lr=1e-3):
    from mmengine.config import Config
    return SimpleNamespace(
        optim_wrapper=SimpleNamespace(get_lr=lambda: {'lr': [lr]}), world_size=1, epoch=0,
        iter=iteration, cfg=Config(dict(train_dataloader=dict(batch_size=2))))


@pytest.fixture(scope='module')
def tiny_model():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import tbmm.plugin  # noqa: F401
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(str(REPO / TINY_CONFIG)).model)


def head_losses(model, box):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    sample = DetDataSample(metainfo=dict(img_shape=(128, 128), pad_shape=(128, 128),
                                         batch_input_shape=(128, 128)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([box]), labels=torch.tensor([0]))
    losses = model.loss(torch.rand(1, 3, 128, 128), [sample])
    parts = {k: sum(v) if isinstance(v, list) else v for k, v in losses.items()}
    return dict(loss=sum(parts.values()), **parts)


def test_a_box_clipped_to_nothing_is_named_as_the_cause(tiny_model):
    # What Resize leaves of a box wholly outside a 128 px image: no area, an infinite box loss.
    outputs = head_losses(tiny_model, [128.0, 10.0, 128.0, 50.0])
    assert math.isinf(outputs['loss_bbox']) and math.isfinite(outputs['loss_cls'])
    with pytest.raises(NonFiniteLossError) as e:
        StopOnNonFiniteLossHook().after_train_iter(fake_runner(), 0, outputs=outputs)
    message = str(e.value)
    assert 'a ground-truth box with no area inside its image' in message
    assert 'tools/misc/validate_data.py' in message and 'check_images=True' in message
    assert 'iteration 1' in message and '\n' not in message


def test_a_finite_loss_passes_and_a_nan_one_blames_the_learning_rate(tiny_model):
    hook = StopOnNonFiniteLossHook()
    outputs = head_losses(tiny_model, [10.0, 10.0, 50.0, 60.0])
    hook.after_train_iter(fake_runner(), 0, outputs=outputs)  # finite: nothing happens
    nan = torch.tensor(float('nan'))
    with pytest.raises(NonFiniteLossError) as e:
        hook.after_train_iter(fake_runner(iteration=4, lr=5.0), 0,
                              outputs=dict(loss=nan, loss_cls=nan, loss_bbox=nan))
    message = str(e.value)
    assert 'iteration 5' in message and 'learning rate 5 with a total batch of 2' in message
    assert 'Likely cause: the learning rate is too high' in message
    assert 'ground-truth box' not in message
