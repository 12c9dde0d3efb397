"""Per-class curves: precision-recall, F1 against the score threshold, and the FROC.

All three walk one class's detections from the highest score down (ties in input order):

* **PR**: precision and recall after each detection, matched as for AP50 (:mod:`.pairing`), so the
  area under the interpolated curve is the class's ``ap50``.
* **F1 vs threshold**: at threshold t every detection scoring >= t is kept, so the curve has one
  point per distinct score (the last detection of a run of equal scores);
  F1 = 2 P R / (P + R) (0 when both are 0). The best-F1 threshold is the highest score reaching
  the maximum F1.
* **FROC**: recall against false positives per image (all evaluation images in the denominator),
  with the ChestX-Det10 protocol's inclusive-pixel IoU (:mod:`.froc`), as ``froc_*`` in the
  metrics.

Thresholds picked on the evaluation set itself (best F1) flatter it; pick them on a validation set.
"""
import numpy as np

from .froc import CHESTXDET_FROC_FPS, froc_sequence, recall_at_fp_rates
from .matching import match_detections


def f1_curve(is_tp, scores, n_gt):
    """Precision, recall and F1 at each distinct score threshold of one class's ranked detections.

    Returns ``(thresholds, precision, recall, f1)``, thresholds descending; empty arrays without
    detections.
    """
    is_tp = np.asarray(is_tp, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if is_tp.size == 0:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    tp = np.cumsum(is_tp)
    fp = np.cumsum(~is_tp)
    last_of_run = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    tp, fp = tp[last_of_run], fp[last_of_run]
    precision = tp / (tp + fp)
    recall = tp / n_gt if n_gt else np.zeros(tp.shape)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(tp.shape), where=total > 0)
    return scores[last_of_run], precision, recall, f1


def operating_point(is_tp, scores, n_gt, threshold):
    """Precision, recall, F1 and detection count of the detections scoring >= ``threshold``."""
    is_tp = np.asarray(is_tp, dtype=bool)
    kept = np.asarray(scores) >= threshold
    tp, n = int(is_tp[kept].sum()), int(kept.sum())
    precision = tp / n if n else None
    recall = tp / n_gt if n_gt else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {'threshold': float(threshold), 'n_det': n, 'tp': tp, 'precision': precision,
            'recall': recall, 'f1': f1}


def class_curves(pairing, froc_fps=CHESTXDET_FROC_FPS):
    """Per class (of a :class:`.pairing.Pairing`): the curves of the module docstring.

    Returns ``{class: None (no ground truth) or {"scores", "precision", "recall" (after each ranked
    detection), "f1": {"thresholds", "precision", "recall", "f1"}, "best_f1": {"threshold", "f1",
    "precision", "recall"} or None (no detections), "froc": {"fp_per_image", "recall",
    "points": {fp: recall at fp}}}}`` with numpy arrays.
    """
    p = pairing
    n_images = len(p.file_names)
    curves = {}
    for k, name in enumerate(p.classes):
        n_gt = int(p.n_gt[k])
        if n_gt == 0:
            curves[name] = None
            continue
        ranked = p.rank[p.det.labels[p.rank] == k]
        is_tp = p.is_tp[ranked]
        scores = p.det.scores[ranked]
        tp = np.cumsum(is_tp)
        precision = tp / np.arange(1, ranked.size + 1)
        recall = tp / n_gt
        thresholds, f_precision, f_recall, f1 = f1_curve(is_tp, scores, n_gt)
        best = None
        if f1.size:
            b = int(np.argmax(f1))  # first maximum = highest threshold
            best = {'threshold': float(thresholds[b]), 'f1': float(f1[b]),
                    'precision': float(f_precision[b]), 'recall': float(f_recall[b])}
        in_gt = p.gt.labels == k
        froc_tp = match_detections(p.det.boxes[ranked], p.det.images[ranked], p.gt.boxes[in_gt],
                                   p.gt.images[in_gt], p.iou_thr, inclusive_pixels=True)
        fp_per_image, froc_recall = froc_sequence(froc_tp, n_gt, n_images)
        points = recall_at_fp_rates(fp_per_image, froc_recall, froc_fps)
        curves[name] = {
            'scores': scores, 'is_tp': is_tp, 'n_gt': n_gt, 'precision': precision,
            'recall': recall,
            'f1': {'thresholds': thresholds, 'precision': f_precision, 'recall': f_recall,
                   'f1': f1},
            'best_f1': best,
            'froc': {'fp_per_image': fp_per_image, 'recall': froc_recall,
                     'points': {float(f): float(r) for f, r in zip(froc_fps, points)}},
        }
    return curves
