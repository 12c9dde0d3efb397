from tbmm.models.layers.folded_batchnorm import fold_frozen_batchnorm

__all__ = ['fold_frozen_batchnorm']
