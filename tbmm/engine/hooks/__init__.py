from .checkpoint_fits_model_hook import CheckpointFitsModelHook
from .nonfinite_loss_hook import NonFiniteLossError, StopOnNonFiniteLossHook

__all__ = ['CheckpointFitsModelHook', 'NonFiniteLossError', 'StopOnNonFiniteLossHook']
