"""COCO-style per-class AP computed by pycocotools' COCOeval on in-memory COCO objects."""
import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

#: Names of the per-class COCO numbers, in the order :func:`coco_ap_per_class` returns them.
COCO_METRIC_NAMES = ('coco_ap', 'coco_ap50', 'coco_ap75', 'coco_ap_s', 'coco_ap_m', 'coco_ap_l')


def _xywh(boxes):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack((boxes[:, :2], boxes[:, 2:] - boxes[:, :2]))


def _coco_from_dataset(dataset):
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def build_coco_pair(n_images, n_classes, gt_boxes, gt_labels, gt_images, det_boxes, det_scores,
                    det_labels, det_images):
    """Ground-truth and detection COCO objects; image ids 1..n_images, category ids 1..n_classes.

    Every evaluation image is registered, with or without ground truth, so detections on negative
    images count as false positives. Boxes are ``[x1, y1, x2, y2]``; COCO areas are ``w * h``.
    """
    images = [{'id': i + 1} for i in range(n_images)]
    categories = [{'id': k + 1, 'name': str(k + 1)} for k in range(n_classes)]

    def annotations(boxes, labels, image_idx, scores=None):
        xywh = _xywh(boxes)
        areas = xywh[:, 2] * xywh[:, 3]
        anns = []
        for j in range(len(xywh)):
            ann = {'id': j + 1, 'image_id': int(image_idx[j]) + 1,
                   'category_id': int(labels[j]) + 1, 'bbox': xywh[j].tolist(),
                   'area': float(areas[j]), 'iscrowd': 0}
            if scores is not None:
                ann['score'] = float(scores[j])
            anns.append(ann)
        return anns

    coco_gt = _coco_from_dataset({'images': images, 'categories': categories,
                                  'annotations': annotations(gt_boxes, gt_labels, gt_images)})
    coco_dt = _coco_from_dataset({'images': images, 'categories': categories,
                                  'annotations': annotations(det_boxes, det_labels, det_images,
                                                             det_scores)})
    return coco_gt, coco_dt


def run_cocoeval(coco_gt, coco_dt):
    """Run COCOeval (bbox) evaluate + accumulate silently at maxDets=100; return the COCOeval."""
    coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
    # Only the 100-detection column is reported; accumulating COCO's 1- and 10-detection columns
    # too doubles accumulate's time (docs/records/evaluate_speed_2026-12-04.txt). Matching always
    # uses maxDets[-1] (100) either way.
    coco_eval.params.maxDets = [100]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


def per_class_from_cocoeval(coco_eval):
    """Per-class numbers from ``coco_eval.eval['precision']`` at maxDets=100.

    Returns a (n_classes, 6) float array in :data:`COCO_METRIC_NAMES` order with NaN where COCO has
    no value (-1: no ground truth of that class, or none in that area range). Averaging these over
    the classes that have a value reproduces ``COCOeval.summarize()``'s stats[0:6].
    """
    params = coco_eval.params
    precision = coco_eval.eval['precision'][..., -1]  # (iou thr, recall thr, class, area range)
    iou_50 = np.flatnonzero(np.isclose(params.iouThrs, 0.5))[0]
    iou_75 = np.flatnonzero(np.isclose(params.iouThrs, 0.75))[0]
    area_index = {label: i for i, label in enumerate(params.areaRngLbl)}

    def mean_valid(p):
        # p: (..., class); COCO averages only entries > -1
        p = p.reshape(-1, p.shape[-1])
        valid = p > -1
        count = valid.sum(axis=0)
        total = np.where(valid, p, 0.0).sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    all_area = area_index['all']
    columns = [
        mean_valid(precision[:, :, :, all_area]),
        mean_valid(precision[iou_50, :, :, all_area]),
        mean_valid(precision[iou_75, :, :, all_area]),
        mean_valid(precision[:, :, :, area_index['small']]),
        mean_valid(precision[:, :, :, area_index['medium']]),
        mean_valid(precision[:, :, :, area_index['large']]),
    ]
    return np.column_stack(columns)


def coco_ap_per_class(n_images, n_classes, gt_boxes, gt_labels, gt_images, det_boxes, det_scores,
                      det_labels, det_images):
    """COCO AP@[.5:.95], AP50, AP75, AP small/medium/large per class, as a (n_classes, 6) array."""
    coco_gt, coco_dt = build_coco_pair(n_images, n_classes, gt_boxes, gt_labels, gt_images,
                                       det_boxes, det_scores, det_labels, det_images)
    return per_class_from_cocoeval(run_cocoeval(coco_gt, coco_dt))
