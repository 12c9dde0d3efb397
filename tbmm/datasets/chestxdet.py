"""ChestX-Det / ChestX-Det10 annotation files as an MMDetection dataset."""
import os.path as osp
from collections import Counter

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import MMLogger, print_log

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.annotations import read_annotations

UNKNOWN_CLASS_POLICIES = ('error', 'drop')
MISSING_IMAGE_POLICIES = ('error', 'skip')


class DatasetBuildError(ValueError):
    """The data set cannot be built as configured; the message says what to change."""


def _class_palette(n):
    # Fixed, well separated colours (tab10-like) so plots of the same class look the same everywhere.
    base = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
            (174, 199, 232), (255, 187, 120), (152, 223, 138)]
    return [base[i % len(base)] for i in range(n)]


@DATASETS.register_module()
class ChestXDetDataset(BaseDetDataset):
    """A JSON list of ``{"file_name", "syms", "boxes"[, "polygons"]}`` records plus an image folder.

    Records without boxes are kept: they are the negatives of training and evaluation. Identical
    boxes with different classes stay separate instances.

    Args:
        unknown_class_policy (str): what to do with boxes whose class is not in
            ``metainfo['classes']`` (e.g. ChestX-Det10's Pneumothorax under the 9-class list):
            ``'error'`` (default) stops with the counts per unknown class; ``'drop'`` drops those
            boxes and logs the counts. The image itself is kept either way.
        missing_image_policy (str): what to do with records whose image file does not exist:
            ``'error'`` (default) stops with the count and the first names; ``'skip'`` leaves those
            records out and logs the count and the first names.
    """

    METAINFO = dict(classes=DEFAULT_CLASSES, palette=_class_palette(len(DEFAULT_CLASSES)))

    def __init__(self, *args, unknown_class_policy='error', missing_image_policy='error', **kwargs):
        if unknown_class_policy not in UNKNOWN_CLASS_POLICIES:
            raise DatasetBuildError(
                f'unknown_class_policy must be one of {UNKNOWN_CLASS_POLICIES}, '
                f'got {unknown_class_policy!r}')
        if missing_image_policy not in MISSING_IMAGE_POLICIES:
            raise DatasetBuildError(
                f'missing_image_policy must be one of {MISSING_IMAGE_POLICIES}, '
                f'got {missing_image_policy!r}')
        self.unknown_class_policy = unknown_class_policy
        self.missing_image_policy = missing_image_policy
        #: What loading dropped or skipped, for reports and tests.
        self.load_report = {}
        super().__init__(*args, **kwargs)

    def _load_metainfo(self, metainfo=None):
        meta = super()._load_metainfo(metainfo)
        # A class list given in a config replaces the default one; keep the palette in step with it.
        if len(meta.get('palette', ())) != len(meta['classes']):
            meta['palette'] = _class_palette(len(meta['classes']))
        meta['classes'] = tuple(meta['classes'])
        return meta

    def load_data_list(self):
        records = read_annotations(self.ann_file)
        classes = self.metainfo['classes']
        label_of = {name: i for i, name in enumerate(classes)}
        img_dir = self.data_prefix.get('img', '')

        unknown = Counter()
        missing = []
        data_list = []
        for index, record in enumerate(records):
            img_path = osp.join(img_dir, record['file_name'])
            if not osp.isfile(img_path):
                missing.append(record['file_name'])
                continue
            instances = []
            for sym, box in zip(record['syms'], record['boxes']):
                if sym not in label_of:
                    unknown[sym] += 1
                    continue
                instances.append(dict(bbox=box, bbox_label=label_of[sym], ignore_flag=0))
            data_list.append(dict(
                img_path=img_path,
                # The file name is the image's identity in every report and prediction file.
                img_id=record['file_name'],
                record_index=index,
                instances=instances))

        self._apply_unknown_class_policy(unknown, classes)
        self._apply_missing_image_policy(missing, len(records), img_dir)
        self.load_report = dict(
            records=len(records),
            loaded=len(data_list),
            negatives=sum(1 for d in data_list if not d['instances']),
            dropped_boxes_by_class=dict(unknown),
            missing_images=missing)
        return data_list

    def _apply_unknown_class_policy(self, unknown, classes):
        if not unknown:
            return
        counts = ', '.join(f'{name}: {n}' for name, n in unknown.most_common())
        if self.unknown_class_policy == 'error':
            raise DatasetBuildError(
                f'{self.ann_file}: {sum(unknown.values())} boxes have classes outside the '
                f'{len(classes)}-class list ({counts}); set unknown_class_policy="drop" to drop '
                'and count them, or use a config whose metainfo lists these classes')
        print_log(
            f'{self.ann_file}: dropped {sum(unknown.values())} boxes of classes outside the '
            f'class list ({counts}); their images are kept', logger=MMLogger.get_current_instance(),
            level=30)

    def _apply_missing_image_policy(self, missing, n_records, img_dir):
        if not missing:
            return
        first = ', '.join(missing[:5]) + (', ...' if len(missing) > 5 else '')
        if self.missing_image_policy == 'error':
            raise DatasetBuildError(
                f'{self.ann_file}: {len(missing)} of {n_records} listed images are missing under '
                f'{img_dir!r} (first: {first}); fix data_root/data_prefix or set '
                'missing_image_policy="skip" to leave them out with a count')
        print_log(
            f'{self.ann_file}: skipped {len(missing)} of {n_records} records whose image is missing '
            f'under {img_dir!r} (first: {first})', logger=MMLogger.get_current_instance(), level=30)
