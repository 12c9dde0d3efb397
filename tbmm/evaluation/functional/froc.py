"""ChestX-Det10 FROC, reproducing the data set's official evaluation script (``eval.py``).

Per class, detections over all evaluation images are ranked by score and matched greedily with
inclusive-pixel IoU (see :mod:`.matching`). After each detection the script records

    recall = hits / ground truths of the class,   fp_per_image = false positives / evaluation images

(images without any ground truth count in the denominator), and reads recall at given FP/image off
that sequence with ``scipy.interpolate.interp1d(fp_per_image, recall, fill_value='extrapolate')``,
querying ``min(q, last fp_per_image)``.

Read-off rule used here. Recall only rises on true positives and FP/image only on false positives,
so the sequence is a staircase and every segment interp1d interpolates along is flat: it looks up
the first point whose FP/image is >= q (``searchsorted`` left) and its predecessor, and the point
that raised FP/image to that level is a false positive with the same recall as its predecessor.
So the script's result is exactly

    recall(q) = recall of the last detection whose FP/image < min(q, last FP/image)   (0 if none)

which is what :func:`recall_at_fp_rates` computes in numpy (tests check it against interp1d).
Consequences, kept on purpose because published ChestX-Det10 numbers carry them:

* for queries at or beyond the last FP/image, true positives ranked below the class's last false
  positive are not credited (and likewise at a query equal to an FP/image level);
* a class whose detections are all true positives (FP/image stays 0) scores its final recall
  (1 when it hits every ground truth), and a class with no detections scores 0;
* interpolation never leaves [0, 1], so no clipping is needed.

Where the script itself breaks down we return the staircase value instead: with the top-ranked
detection a false positive and the next a true positive, interp1d divides by a zero FP/image step
for queries <= 1 / n_images and the script yields NaN or -inf; here that is 0 (no detection ranks
above the first false positive). A class without ground truth divides by zero in the script; here
it is n/a (None) and left out of means. Score ties are ranked in input order (the script's
``np.argsort`` leaves their order unspecified). IoU is computed in float64 (the script: float32).
"""
import numpy as np

#: Operating points of the ChestX-Det10 benchmark (FP per image).
CHESTXDET_FROC_FPS = (0.05, 0.1, 0.2)
#: Classic FROC operating points (FP per image), as used for the curve.
CLASSIC_FROC_FPS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def froc_sequence(is_tp, n_gt, n_images):
    """Recall and FP/image after each detection, from score-ranked true-positive flags."""
    is_tp = np.asarray(is_tp, dtype=bool)
    recall = np.cumsum(is_tp) / n_gt
    fp_per_image = np.cumsum(~is_tp) / n_images
    return fp_per_image, recall


def recall_at_fp_rates(fp_per_image, recall, fp_rates):
    """Recall at each FP/image in ``fp_rates``, read off the sequence like the official script."""
    fp_per_image = np.asarray(fp_per_image, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    fp_rates = np.asarray(fp_rates, dtype=np.float64)
    if fp_per_image.size == 0:
        return np.zeros(fp_rates.shape)
    last_fp = fp_per_image[-1]
    if last_fp == 0:
        return np.full(fp_rates.shape, recall[-1])
    queries = np.minimum(fp_rates, last_fp)
    n_below = np.searchsorted(fp_per_image, queries, side='left')
    return np.where(n_below > 0, recall[np.maximum(n_below - 1, 0)], 0.0)
