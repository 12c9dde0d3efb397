"""Stop training at the first non-finite loss, before a NaN checkpoint can be written."""
import math

from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS


class NonFiniteLossError(RuntimeError):
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
        if not outputs or 'loss' not in outputs or not self.every_n_train_iters(runner, self.interval):
            return
        loss = float(outputs['loss'])
        if math.isfinite(loss):
            return
        lrs = runner.optim_wrapper.get_lr()
        lr = next(iter(lrs.values()))[0] if lrs else float('nan')
        batch = runner.cfg.train_dataloader.batch_size * runner.world_size
        parts = ', '.join(f'{k}={float(v):.4g}' for k, v in outputs.items() if k != 'loss')
        raise NonFiniteLossError(
            f'loss became {loss} at epoch {runner.epoch + 1}, iteration {runner.iter + 1} '
            f'({parts}); learning rate {lr:.3g} with a total batch of {batch}. Likely cause: the '
            'learning rate is too high for this batch size - keep auto_scale_lr enabled (do not pass '
            '--no-auto-scale-lr) or lower optim_wrapper.optimizer.lr; with --amp also try '
            'float32. Training stopped before writing a NaN checkpoint.')
