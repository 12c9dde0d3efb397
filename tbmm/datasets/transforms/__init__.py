"""Data pipeline transforms, registered in MMDetection's TRANSFORMS registry on import."""
from tbmm.datasets.transforms.loading import LoadXRayImageFromFile

__all__ = ['LoadXRayImageFromFile']
