"""Image-level abnormality: ROC AUC and sensitivity at a fixed specificity, in numpy."""
import numpy as np


def average_ranks(values):
    """1-based ranks of ``values``, tied values sharing the mean of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1
    return (first_rank + (counts - 1) / 2.0)[inverse]


def roc_auc(is_positive, scores):
    """Area under the ROC curve via the rank-sum (Mann-Whitney) formula; ties count one half.

    Returns None when either class is absent.
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    n_pos = int(is_positive.sum())
    n_neg = is_positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = average_ranks(scores)[is_positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def sensitivity_at_specificity(is_positive, scores, min_specificity=0.9):
    """Best sensitivity over thresholds whose specificity is at least ``min_specificity``.

    An image is called abnormal when its score >= threshold; candidate thresholds are the observed
    scores plus +inf (nothing called abnormal). Returns ``(sensitivity, threshold)``, or
    ``(None, None)`` when either class is absent.
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.sort(scores[is_positive])
    negatives = np.sort(scores[~is_positive])
    if positives.size == 0 or negatives.size == 0:
        return None, None
    thresholds = np.append(np.unique(scores), np.inf)
    specificity = np.searchsorted(negatives, thresholds, side='left') / negatives.size
    sensitivity = 1.0 - np.searchsorted(positives, thresholds, side='left') / positives.size
    # Compare with a little slack so that e.g. 9/10 counts as 0.9 despite float rounding.
    allowed = specificity >= min_specificity - 1e-12
    best_sensitivity = sensitivity[allowed].max()
    # Of the thresholds reaching it, report the highest (most specific) one.
    best = np.flatnonzero(allowed & (sensitivity == best_sensitivity))[-1]
    return float(best_sensitivity), float(thresholds[best])
