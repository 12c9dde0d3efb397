"""Data: annotation I/O (light), and the MMDetection data set and transforms (loaded on first use,
so tools that only read annotation files do not import torch and mmdet)."""
from .annotations import AnnotationError, read_annotations, write_annotations

_LAZY = {
    'ChestXDetDataset': 'tbmm.datasets.chestxdet',
    'DatasetBuildError': 'tbmm.datasets.chestxdet',
    'LoadXRayImageFromFile': 'tbmm.datasets.transforms',
}

__all__ = ['AnnotationError', 'read_annotations', 'write_annotations', *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
