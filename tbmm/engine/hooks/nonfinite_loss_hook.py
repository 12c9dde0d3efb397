"""Stop training at the first non-finite loss, before a NaN checkpoint can be written."""
import math

from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS

from tbmm.errors import UserInputError


class NonFiniteLossError(UserInputError, RuntimeError):
    """Training produced a NaN or infinite loss."""


@HOOKS.register_module()
class StopOnNonFiniteLossHook(CheckInvalidLossHook):
    """mmdet's ``CheckInvalidLossHook``, checked every iteration and with an actionable message.

    mmdet's hook only asserts (every 50 iterations by default) and logs "loss become infinite or
    NaN!"; users then find NaN checkpoints and no hint why. The usual cause in these configs is a
    learning rate that was not scaled down for a small total batch.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook (VERY_LOW) saves anything for this iteration

    def __init__(self, interval=1):
        super().__init__(interval=interval)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if (not outputs or 'loss' not in outputs
                or not self.every_n_train_iters(runner, self.interval)):
            return
        loss = _to_float(outputs['loss'])
        if math.isfinite(loss):
            return
        lrs = runner.optim_wrapper.get_lr()
        lr = next(iter(lrs.values()))[0] if lrs else float('nan')
        batch = runner.cfg.train_dataloader.batch_size * runner.world_size
        parts = {k: _to_float(v) for k, v in outputs.items() if k != 'loss'}
        nonfinite = [k for k, v in parts.items() if not math.isfinite(v)]
        lr_cause = ('the learning rate is too high for this batch size - keep auto_scale_lr '
                    'enabled (do not pass --no-auto-scale-lr) or lower '
                    'optim_wrapper.optimizer.lr; with --amp also try float32')
        if nonfinite and all('bbox' in k for k in nonfinite) and all(
                math.isinf(parts[k]) for k in nonfinite):
            # An empty ground-truth box (one clipped to nothing) has a log(0) regression target:
            # the box loss alone is infinite, from the first batch holding it, whatever the LR.
            cause = ('a ground-truth box with no area inside its image (only the box loss is '
                     'infinite) - check the data with tools/misc/validate_data.py, or build '
                     'the data set with check_images=True to stop on such boxes; otherwise '
                     f'{lr_cause}')
        else:
            cause = lr_cause
        summary = ', '.join(f'{k}={v:.4g}' for k, v in parts.items())
        raise NonFiniteLossError(
            f'loss became {loss} at epoch {runner.epoch + 1}, iteration {runner.iter + 1} '
            f'({summary}); learning rate {lr:.3g} with a total batch of {batch}. Likely cause: '
            f'{cause}. Training stopped before writing a NaN checkpoint.')


def _to_float(value):
    # Log values may still be attached to the graph; float() on them warns every time.
    return float(value.detach()) if hasattr(value, 'detach') else float(value)
