from .nonfinite_loss_hook import NonFiniteLossError, StopOnNonFiniteLossHook

__all__ = ['NonFiniteLossError', 'StopOnNonFiniteLossHook']
