"""Stop a test whose checkpoint does not fit the model, instead of scoring random weights."""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tbmm.checkpoint import check_checkpoint_fits_model


@HOOKS.register_module()
class CheckpointFitsModelHook(Hook):
    """Raises ``CheckpointMismatchError`` (one line) when the loaded checkpoint lacks a weight of
    the model or has it in another shape.

    MMEngine's Runner loads ``load_from`` non-strictly and only logs the mismatches, which suits
    fine-tuning; ``tools/test.py`` adds this hook, since every weight it tests must come from the
    checkpoint. Runs before the weights are copied into the model.
    """

    def after_load_checkpoint(self, runner, checkpoint):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check_checkpoint_fits_model(model, checkpoint, runner.cfg.get('load_from'))
