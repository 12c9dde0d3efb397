from .annotations import AnnotationError, read_annotations, write_annotations
from .chestxdet import ChestXDetDataset, DatasetBuildError
from .transforms import LoadXRayImageFromFile

__all__ = [
    'AnnotationError', 'read_annotations', 'write_annotations', 'ChestXDetDataset',
    'DatasetBuildError', 'LoadXRayImageFromFile'
]
