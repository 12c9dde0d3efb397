"""ChestX-Det / ChestX-Det10 annotation files as an MMDetection dataset."""
import logging
import os.path as osp
from collections import Counter

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import MMLogger, print_log

from tbmm.classes import DEFAULT_CLASSES, class_color, covering_preset
from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.image_io import ImageReadError, inspect_image
from tbmm.datasets.validation import DatasetBuildError, check_dataset_policies, clip_box_to_image  # noqa: F401


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
        missing_image_policy (str): what to do with records whose image file does not exist
            (or, with ``check_images``, cannot be read): ``'error'`` (default) stops with the count
            and the first names; ``'skip'`` leaves those records out and logs the count and the
            first names.
        check_images (bool): read every image's header and last bytes while building (fast; no
            decoding), so that problems stop the build instead of a training run hours later:
            empty, truncated or undecodable headers are unreadable images (see
            ``missing_image_policy``); boxes partly outside their image are clipped to it and
            counted; a box with no area inside its image (its regression target would be
            infinite) stops the build. Also adds ``width``/``height`` to each data info. Off by
            default: then boxes are not checked here (the pipeline's ``Resize`` clips them).
    """

    METAINFO = dict(classes=DEFAULT_CLASSES)

    def __init__(self, *args, unknown_class_policy='error', missing_image_policy='error',
                 check_images=False, **kwargs):
        check_dataset_policies(unknown_class_policy, missing_image_policy)
        self.unknown_class_policy = unknown_class_policy
        self.missing_image_policy = missing_image_policy
        self.check_images = bool(check_images)
        #: What loading dropped or skipped, for reports and tests.
        self.load_report = {}
        super().__init__(*args, **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo=None):
        meta = super()._load_metainfo(metainfo)
        meta['classes'] = tuple(meta['classes'])
        # Unless the config sets one, MMDetection's visualizer (--show-dir, browse_dataset) draws
        # each class in the colour tbmm's own overlays use.
        if not (metainfo and 'palette' in metainfo):
            meta['palette'] = [class_color(name, meta['classes']) for name in meta['classes']]
        return meta

    def load_data_list(self):
        records = read_annotations(self.ann_file)
        classes = self.metainfo['classes']
        label_of = {name: i for i, name in enumerate(classes)}
        img_dir = self.data_prefix.get('img', '')

        unknown = Counter()
        missing = []
        unreadable = []  # (record index, file name, reason)
        outside = []  # boxes without area inside their image: (index, name, box no., box, size)
        clipped_boxes = 0
        data_list = []
        for index, record in enumerate(records):
            # Counted for every record, also those whose image is missing or unreadable, so that
            # one build error names every problem.
            unknown.update(sym for sym in record['syms'] if sym not in label_of)
            img_path = osp.join(img_dir, record['file_name'])
            if not osp.isfile(img_path):
                missing.append(record['file_name'])
                continue
            size = None
            if self.check_images:
                try:
                    image = inspect_image(img_path)
                except ImageReadError as e:
                    unreadable.append((index, record['file_name'], e.reason))
                    continue
                size = (image.width, image.height)
            instances = []
            for j, (sym, box) in enumerate(zip(record['syms'], record['boxes'])):
                if sym not in label_of:  # counted above
                    continue
                if size is not None:
                    inside = clip_box_to_image(box, *size)
                    if inside is None:
                        outside.append((index, record['file_name'], j, box, size))
                        continue
                    clipped_boxes += inside != box
                    box = inside
                instances.append(dict(bbox=box, bbox_label=label_of[sym], ignore_flag=0))
            data_info = dict(
                img_path=img_path,
                # The file name is the image's identity in every report and prediction file.
                img_id=record['file_name'],
                record_index=index,
                instances=instances)
            if size is not None:
                data_info['width'], data_info['height'] = size
            data_list.append(data_info)

        # Every problem in one error: fixing one and meeting the next on the rerun wastes a build.
        problems = [problem for problem in (
            self._unknown_class_problem(unknown, classes),
            self._missing_image_problem(missing, len(records), img_dir),
            self._unreadable_image_problem(unreadable, len(records)),
            self._boxes_outside_problem(outside, clipped_boxes)) if problem]
        if problems:
            raise DatasetBuildError(f'{self.ann_file}: ' + '; also '.join(problems))
        if not data_list:
            raise DatasetBuildError(
                f'{self.ann_file}: no images to load'
                + (f' (all {len(records)} records were skipped)' if records
                   else ' (the annotation list is empty)'))
        self.load_report = dict(
            records=len(records),
            loaded=len(data_list),
            negatives=sum(1 for d in data_list if not d['instances']),
            dropped_boxes_by_class=dict(unknown),
            missing_images=missing,
            unreadable_images=[name for _, name, _ in unreadable],
            clipped_boxes=clipped_boxes)
        return data_list

    def _unknown_class_problem(self, unknown, classes):
        """The error for boxes of unlisted classes (``'error'`` policy), else None (logged)."""
        if not unknown:
            return None
        counts = ', '.join(f'{name}: {n}' for name, n in unknown.most_common())
        if self.unknown_class_policy == 'error':
            preset = covering_preset(tuple(classes) + tuple(unknown))
            example = f' (the {preset} classes cover them all)' if preset else ''
            return (f'{sum(unknown.values())} boxes have classes outside the {len(classes)}-class '
                    f'list ({counts}); set unknown_class_policy="drop" to drop and count them, or '
                    f'use a config whose metainfo lists these classes{example}')
        print_log(
            f'{self.ann_file}: dropped {sum(unknown.values())} boxes of classes outside the '
            f'class list ({counts}); their images are kept', logger=MMLogger.get_current_instance(),
            level=logging.WARNING)
        return None

    def _missing_image_problem(self, missing, n_records, img_dir):
        """The error for listed images not on disk (``'error'`` policy), else None (logged)."""
        if not missing:
            return None
        first = ', '.join(missing[:5]) + (', ...' if len(missing) > 5 else '')
        if self.missing_image_policy == 'error':
            # With every image missing, skipping them would leave nothing: the paths are wrong.
            remedy = ('fix data_root/data_prefix' if len(missing) == n_records else
                      'fix data_root/data_prefix or set missing_image_policy="skip" to leave them '
                      'out with a count')
            return (f'{len(missing)} of {n_records} listed images are missing under {img_dir!r} '
                    f'(first: {first}); {remedy}')
        print_log(
            f'{self.ann_file}: skipped {len(missing)} of {n_records} records whose image is '
            f'missing under {img_dir!r} (first: {first})',
            logger=MMLogger.get_current_instance(), level=logging.WARNING)
        return None

    def _unreadable_image_problem(self, unreadable, n_records):
        """The error for unreadable images (``'error'`` policy), else None (logged)."""
        if not unreadable:
            return None
        index, name, reason = unreadable[0]
        first = f'record {index} ({name!r}): {reason}'
        if self.missing_image_policy == 'error':
            return (f'{len(unreadable)} of {n_records} listed images are unreadable (first: '
                    f'{first}); replace them, or set missing_image_policy="skip" to leave them out '
                    'with a count (tools/misc/validate_data.py lists them all)')
        print_log(
            f'{self.ann_file}: skipped {len(unreadable)} of {n_records} records whose image is '
            f'unreadable (first: {first})',
            logger=MMLogger.get_current_instance(), level=logging.WARNING)
        return None

    def _boxes_outside_problem(self, outside, clipped_boxes):
        """The error for boxes without area in their image, else None (clipped ones logged)."""
        if clipped_boxes:
            print_log(
                f'{self.ann_file}: clipped {clipped_boxes} boxes that stick out of their image to '
                'the image', logger=MMLogger.get_current_instance(), level=logging.WARNING)
        if not outside:
            return None
        index, name, j, box, (width, height) = outside[0]
        # Clipped to nothing, such a box gets an infinite regression target: the loss would turn
        # infinite at the first batch holding it, whatever the learning rate.
        return (f'{len(outside)} boxes have no area inside their image (first: record {index} '
                f'({name!r}), box {j} {box} in a {width}x{height} image); fix or remove them '
                '(tools/misc/validate_data.py lists them all)')
