"""Average precision at one IoU threshold, VOC style ('area' mode, all-point interpolation).

Numerically the same as ``mmdet.evaluation.functional.eval_map(..., eval_mode='area')`` with its
default continuous coordinates (checked in tests). It is re-expressed here rather than called
because ``eval_map`` sits behind imports of torch and mmcv (over a second before any work on a small
machine) and starts a multiprocessing pool, which the offline CLI's time budget cannot afford.
"""
import numpy as np


def average_precision_area(recall, precision):
    """Area under the precision-recall curve after making precision monotonically decreasing."""
    recall = np.concatenate(([0.0], np.asarray(recall, dtype=np.float64), [1.0]))
    precision = np.concatenate(([0.0], np.asarray(precision, dtype=np.float64), [0.0]))
    # Interpolated precision at recall r is the best precision at any recall >= r.
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def ap_from_ranked_matches(is_tp, n_gt):
    """AP of one class from its score-ranked true-positive flags; None without ground truth."""
    if n_gt == 0:
        return None
    is_tp = np.asarray(is_tp, dtype=bool)
    if is_tp.size == 0:
        return 0.0
    tp = np.cumsum(is_tp)
    fp = np.cumsum(~is_tp)
    return average_precision_area(tp / n_gt, tp / (tp + fp))
