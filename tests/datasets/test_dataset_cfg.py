from mmengine.config import ConfigDict

from tbmm.datasets.dataset_cfg import innermost_dataset, is_annotation_loader, is_resize


class _Wrapper:
    def __init__(self, dataset):
        self.dataset = dataset


class Resize:  # a built transform: its class name is its type
    pass


def test_innermost_dataset_sees_through_config_and_built_wrappers():
    inner = dict(type='ChestXDetDataset', ann_file='a.json')
    cfg = ConfigDict(type='ClassBalancedDataset', oversample_thr=0.1,
                     dataset=dict(type='RepeatDataset', times=2, dataset=inner))
    assert innermost_dataset(cfg) == inner
    assert innermost_dataset(inner) is inner
    built = object()
    assert innermost_dataset(_Wrapper(_Wrapper(built))) is built


def test_transform_kinds_ignore_the_registry_scope():
    assert is_resize(dict(type='mmdet.Resize', scale=(256, 256)))
    assert is_resize('Resize') and is_resize(Resize())
    assert not is_resize(dict(type='RandomResize'))
    assert is_annotation_loader(dict(type='LoadAnnotations', with_bbox=True))
    assert not is_annotation_loader(dict(type='LoadXRayImageFromFile'))
