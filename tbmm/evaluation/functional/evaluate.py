"""The evaluation shared by ``tools/evaluate.py`` (offline) and ``ChestXDetMetric`` (online).

:func:`evaluate_records` takes ground-truth and prediction records in the annotation format
(``{"file_name", "syms", "boxes"}`` plus ``"scores"`` for predictions) and returns a JSON-ready
dict:

.. code-block:: text

    {
      "classes": [name, ...],
      "settings": {"iou_thr", "froc_fps", "froc_curve_fps", "image_specificity"},
      "images": {"n_images", "n_abnormal", "n_negative", "n_pred_records",
                 "n_pred_files_not_in_gt", "pred_files_not_in_gt": [first few names]},
      "ignored_classes": {"gt": {name: boxes}, "pred": {name: boxes}},
      "per_class": {name: {"n_gt", "n_det", "ap50", "coco_ap", "coco_ap50", "coco_ap75",
                           "coco_ap_s", "coco_ap_m", "coco_ap_l", "froc_recall@0.05",
                           "froc_recall@0.1", "froc_recall@0.2", "froc_avgrecall",
                           "froc_curve": {"0.125": recall, ..., "8": recall}}},
      "overall": {same metric keys as a class (means over classes with ground truth; n_gt and n_det
                  are totals), "image_auc", "image_sens@spec0.9", "image_threshold@spec0.9",
                  "n_classes_with_gt", "na_classes": [names without ground truth]}
    }

Metric values are floats in [0, 1] or None (n/a): a class without ground truth is n/a throughout
and excluded from the means, as are COCO area ranges without ground truth.

Definitions, per class: ``ap50`` is VOC 'area' AP at IoU >= ``iou_thr`` with continuous coordinates
(:mod:`.voc`, equal to mmdet's ``eval_map``); ``coco_*`` come from pycocotools' COCOeval
(:mod:`.coco`); ``froc_*`` follow the ChestX-Det10 script (:mod:`.froc`, inclusive-pixel IoU).
Detections with equal scores are ranked in input order. Image level: an image is abnormal when it
has a ground-truth box of the evaluated classes; its score is its top box score (0 if none).
"""
from collections import Counter

import numpy as np

from tbmm.classes import DEFAULT_CLASSES

from .coco import COCO_METRIC_NAMES, coco_ap_per_class
from .froc import CHESTXDET_FROC_FPS, CLASSIC_FROC_FPS, froc_sequence, recall_at_fp_rates
from .image_level import roc_auc, sensitivity_at_specificity
from .matching import check_iou_threshold, match_detections, rank_by_score
from .voc import ap_from_ranked_matches

#: Specificity at which image-level sensitivity is reported.
IMAGE_SPECIFICITY = 0.9
# How many names of prediction files missing from the ground truth the result lists.
_MAX_LISTED_FILES = 20


def fp_rate_label(fp_rate):
    """``0.05 -> '0.05'``, ``8.0 -> '8'``: the FP/image part of FROC key names."""
    return f'{float(fp_rate):g}'


def froc_key(fp_rate):
    """The metric key of the recall at ``fp_rate`` false positives per image."""
    return f'froc_recall@{fp_rate_label(fp_rate)}'


def image_keys(specificity=IMAGE_SPECIFICITY):
    """Keys of the image-level sensitivity and threshold at ``specificity``."""
    spec = f'{specificity:g}'
    return f'image_sens@spec{spec}', f'image_threshold@spec{spec}'


class Boxes:
    """Boxes of one record set as flat arrays: ``boxes`` (N, 4), ``labels`` (class index),
    ``images`` (index into the ground truth's file list), ``index`` (position of the box in its
    record's ``syms``/``boxes``), ``scores`` (None for ground truth)."""

    def __init__(self, boxes, labels, images, scores=None, index=None):
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.images = np.asarray(images, dtype=np.int64)
        self.index = np.asarray([] if index is None else index, dtype=np.int64)
        self.scores = None if scores is None else np.asarray(scores, dtype=np.float64)

    def __len__(self):
        return len(self.labels)


def index_images(gt_records, purpose):
    """``{file_name: index}`` of the ground-truth images, refusing a repeated name or none at all
    (``purpose`` ends the latter's message)."""
    image_index = {}
    for record in gt_records:
        if record['file_name'] in image_index:
            raise ValueError(f'gt: duplicate file_name {record["file_name"]!r}')
        image_index[record['file_name']] = len(image_index)
    if not image_index:
        raise ValueError(f'no ground-truth images {purpose}')
    return image_index


def flatten_records(records, image_index, class_index, kind):
    """Turn records into :class:`Boxes`, counting boxes of classes outside the class list.

    Records whose file name is not in ``image_index`` are skipped and returned by name.
    """
    with_scores = kind == 'pred'
    boxes, labels, images, index, scores = [], [], [], [], []
    ignored, unknown_files, seen = Counter(), [], set()
    for record in records:
        file_name = record['file_name']
        if file_name in seen:
            raise ValueError(f'{kind}: duplicate file_name {file_name!r}')
        seen.add(file_name)
        image = image_index.get(file_name)
        if image is None:
            unknown_files.append(file_name)
            continue
        syms, rec_boxes = record['syms'], record['boxes']
        if len(syms) != len(rec_boxes):
            raise ValueError(f'{kind} {file_name!r}: {len(syms)} syms but {len(rec_boxes)} boxes')
        if with_scores:
            rec_scores = record.get('scores')
            if rec_scores is None or len(rec_scores) != len(rec_boxes):
                raise ValueError(f'pred {file_name!r}: needs "scores", one per box')
        for j, sym in enumerate(syms):
            label = class_index.get(sym)
            if label is None:
                ignored[sym] += 1
                continue
            boxes.append(rec_boxes[j])
            labels.append(label)
            images.append(image)
            index.append(j)
            if with_scores:
                scores.append(rec_scores[j])
    return (Boxes(boxes, labels, images, scores if with_scores else None, index), dict(ignored),
            unknown_files)


def _mean_or_none(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _none_if_nan(value):
    return None if value is None or not np.isfinite(value) else float(value)


def evaluate_records(gt_records, pred_records, classes=DEFAULT_CLASSES, iou_thr=0.5,
                     froc_fps=CHESTXDET_FROC_FPS, froc_curve_fps=CLASSIC_FROC_FPS,
                     image_specificity=IMAGE_SPECIFICITY):
    """Evaluate predictions against ground truth; see the module docstring for the result.

    Args:
        gt_records: annotation records; every record is an evaluation image (no boxes = negative).
        pred_records: prediction records (with ``scores``). Images missing here have no detections;
            records for files not in ``gt_records`` are counted and ignored.
        classes: class names evaluated, in label order. Boxes of other classes are counted in
            ``result['ignored_classes']`` and otherwise ignored.
        iou_thr: IoU threshold of AP50 and of the FROC.
        froc_fps: FP/image operating points averaged into ``froc_avgrecall``.
        froc_curve_fps: FP/image points of the reported FROC curve.
        image_specificity: specificity at which image-level sensitivity is reported.
    """
    iou_thr = check_iou_threshold(iou_thr)
    classes = [str(c) for c in classes]
    class_index = {name: k for k, name in enumerate(classes)}
    image_index = index_images(gt_records, 'to evaluate')
    n_images = len(image_index)

    gt, gt_ignored, _ = flatten_records(gt_records, image_index, class_index, 'gt')
    det, det_ignored, unknown_files = flatten_records(pred_records, image_index, class_index,
                                                       'pred')
    if pred_records and len(unknown_files) == len(pred_records):
        # Scoring that as "no detections" would report zeros for a mix-up of files.
        raise ValueError(f'none of the {len(pred_records)} prediction records is for an image of '
                         f'the ground truth (first: {unknown_files[0]!r}): predictions of another '
                         f'image set?')
    coco = coco_ap_per_class(n_images, len(classes), gt.boxes, gt.labels, gt.images, det.boxes,
                             det.scores, det.labels, det.images)

    per_class = {}
    for k, name in enumerate(classes):
        in_gt = gt.labels == k
        in_det = np.flatnonzero(det.labels == k)
        n_gt = int(in_gt.sum())
        ranked = in_det[rank_by_score(det.scores[in_det])]
        entry = {'n_gt': n_gt, 'n_det': int(in_det.size)}

        # AP50 uses continuous coordinates like COCO and mmdet; FROC the official +1 pixel rule.
        is_tp = match_detections(det.boxes[ranked], det.images[ranked], gt.boxes[in_gt],
                                 gt.images[in_gt], iou_thr, inclusive_pixels=False)
        entry['ap50'] = ap_from_ranked_matches(is_tp, n_gt)
        for column, metric in enumerate(COCO_METRIC_NAMES):
            entry[metric] = _none_if_nan(coco[k, column])

        if n_gt > 0:
            is_tp = match_detections(det.boxes[ranked], det.images[ranked], gt.boxes[in_gt],
                                     gt.images[in_gt], iou_thr, inclusive_pixels=True)
            fp_per_image, recall = froc_sequence(is_tp, n_gt, n_images)
            at_points = recall_at_fp_rates(fp_per_image, recall, froc_fps)
            on_curve = recall_at_fp_rates(fp_per_image, recall, froc_curve_fps)
            for fp_rate, value in zip(froc_fps, at_points):
                entry[froc_key(fp_rate)] = float(value)
            entry['froc_avgrecall'] = float(np.mean(at_points))
            entry['froc_curve'] = {fp_rate_label(f): float(v)
                                   for f, v in zip(froc_curve_fps, on_curve)}
        else:
            for fp_rate in froc_fps:
                entry[froc_key(fp_rate)] = None
            entry['froc_avgrecall'] = None
            entry['froc_curve'] = {fp_rate_label(f): None for f in froc_curve_fps}
        per_class[name] = entry

    with_gt = [name for name in classes if per_class[name]['n_gt'] > 0]
    mean_keys = (['ap50', *COCO_METRIC_NAMES] + [froc_key(f) for f in froc_fps]
                 + ['froc_avgrecall'])
    overall = {
        'n_gt': int(gt.labels.size),
        'n_det': int(det.labels.size),
        'n_classes_with_gt': len(with_gt),
        'na_classes': [name for name in classes if name not in with_gt],
    }
    for key in mean_keys:
        overall[key] = _mean_or_none(per_class[name][key] for name in with_gt)
    overall['froc_curve'] = {
        fp_rate_label(f): _mean_or_none(per_class[name]['froc_curve'][fp_rate_label(f)]
                                        for name in with_gt)
        for f in froc_curve_fps}

    # Image level: abnormal = any ground-truth box of the evaluated classes; score = top box score.
    is_abnormal = np.bincount(gt.images, minlength=n_images) > 0
    image_score = np.zeros(n_images)
    if det.labels.size:
        np.maximum.at(image_score, det.images, det.scores)
    sens, threshold = sensitivity_at_specificity(is_abnormal, image_score, image_specificity)
    sens_key, threshold_key = image_keys(image_specificity)
    overall['image_auc'] = roc_auc(is_abnormal, image_score)
    overall[sens_key] = sens
    overall[threshold_key] = _none_if_nan(threshold)  # +inf (call nothing abnormal) -> None

    return {
        'classes': classes,
        'settings': {'iou_thr': float(iou_thr), 'froc_fps': [float(f) for f in froc_fps],
                     'froc_curve_fps': [float(f) for f in froc_curve_fps],
                     'image_specificity': float(image_specificity)},
        'images': {'n_images': n_images, 'n_abnormal': int(is_abnormal.sum()),
                   'n_negative': int((~is_abnormal).sum()),
                   'n_pred_records': len(pred_records),
                   'n_pred_files_not_in_gt': len(unknown_files),
                   'pred_files_not_in_gt': unknown_files[:_MAX_LISTED_FILES]},
        'ignored_classes': {'gt': gt_ignored, 'pred': det_ignored},
        'per_class': per_class,
        'overall': overall,
    }


def flat_metrics(result, classwise=True):
    """Flat ``{name: float}`` for MMEngine logs and scalars; n/a (None) values are left out.

    Keys: ``mAP50``, ``coco_mAP``, ``coco_mAP50``, ``coco_mAP75``, ``coco_mAP_s``, ``coco_mAP_m``,
    ``coco_mAP_l``, ``mFROC`` (mean FROC avgrecall), ``mFROC@<fp>`` per operating point,
    ``image_auc``, ``image_sens@spec<s>``; with ``classwise`` also ``AP50/<class>``,
    ``coco_AP/<class>`` and ``FROC/<class>``.
    """
    overall = result['overall']
    names = {'ap50': 'mAP50', 'coco_ap': 'coco_mAP', 'coco_ap50': 'coco_mAP50',
             'coco_ap75': 'coco_mAP75', 'coco_ap_s': 'coco_mAP_s', 'coco_ap_m': 'coco_mAP_m',
             'coco_ap_l': 'coco_mAP_l', 'froc_avgrecall': 'mFROC'}
    for fp_rate in result['settings']['froc_fps']:
        names[froc_key(fp_rate)] = f'mFROC@{fp_rate_label(fp_rate)}'
    sens_key, _ = image_keys(result['settings']['image_specificity'])
    names['image_auc'] = 'image_auc'
    names[sens_key] = sens_key
    flat = {out: float(overall[key]) for key, out in names.items() if overall.get(key) is not None}
    if classwise:
        for name, entry in result['per_class'].items():
            for key, prefix in (('ap50', 'AP50'), ('coco_ap', 'coco_AP'),
                                ('froc_avgrecall', 'FROC')):
                if entry[key] is not None:
                    flat[f'{prefix}/{name}'] = float(entry[key])
    return flat
