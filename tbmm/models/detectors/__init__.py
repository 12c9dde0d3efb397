from tbmm.models.detectors.fast_retinanet import FastRetinaNet

__all__ = ['FastRetinaNet']
