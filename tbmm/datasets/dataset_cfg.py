"""Reading data set and pipeline configs: through data set wrappers, and what kind a transform is.

Light (no mmdet import): the tools and analysis code inspect configs before building anything.
"""


def innermost_dataset(dataset):
    """The data set a chain of wrappers (``ClassBalancedDataset``, ``RepeatDataset``, ...) holds:
    for a config dict (``dict(type=..., dataset=...)``) or a built data set (``wrapper.dataset``);
    ``dataset`` itself when it wraps nothing."""
    while True:
        inner = (dataset.get('dataset') if isinstance(dataset, dict)
                 else getattr(dataset, 'dataset', None))
        if inner is None:
            return dataset
        dataset = inner


def transform_type(transform):
    """A pipeline step's type name without its registry scope (``'mmdet.Resize'`` -> ``'Resize'``);
    ``transform`` is a config dict, a type name, or a built transform."""
    if isinstance(transform, dict):
        name = transform.get('type', '')
        name = name if isinstance(name, str) else getattr(name, '__name__', '')
    else:
        name = transform if isinstance(transform, str) else type(transform).__name__
    return name.rsplit('.', 1)[-1]


def is_resize(transform):
    """Whether a pipeline step is mmdet's ``Resize``."""
    return transform_type(transform) == 'Resize'


def is_annotation_loader(transform):
    """Whether a pipeline step is mmdet's ``LoadAnnotations`` (boxes and labels)."""
    return transform_type(transform) == 'LoadAnnotations'
