"""Detection confusion matrix: ground-truth class (rows) against predicted class (columns).

Rows and columns are the classes in order plus ``background`` last. Only detections scoring at
least their class's threshold take part (``score_thr`` for every class, overridden per class by
``class_thresholds``, :mod:`.score_thresholds`). Counting rules, image by image:

1. **Same class (diagonal).** Detections are matched to ground truth of their own class exactly as
   for AP50 (:mod:`.pairing`): from the highest score down, a detection whose best-overlapping
   ground truth of its class has IoU >= ``iou_thr`` and is still unclaimed claims it. Each such
   pair counts once at (class, class). The diagonal is therefore the true positives at the
   threshold, the same that precision and recall at that threshold count.
2. **Other class (off-diagonal).** Each remaining detection, from the highest score down, that
   overlaps *no* ground truth of its own class with IoU >= ``iou_thr``, takes the ground truth of
   another class that it overlaps most with IoU >= ``iou_thr`` among those not yet found (by step 1
   or by an earlier detection of this step): one count at (gt class, predicted class).
3. **Background column/row.** Every other detection counts once at (background, predicted class):
   it overlaps nothing, or only ground truth already found, or it duplicates a ground truth of its
   own class that a higher-scoring detection claimed. Every ground truth not found in steps 1-2
   counts once at (gt class, background): a miss.

So every detection above threshold is counted exactly once (column sums = detections per class)
and every ground truth exactly once (row sums = ground truth per class); the (background,
background) cell is not defined and stays 0.

Boxes with several classes (identical boxes, e.g. Consolidation + Effusion on one region) are one
ground truth per class. A detection is counted once: a Consolidation detection on that box is a
true positive of Consolidation, and Effusion, unless an Effusion detection finds it, is a miss
(Effusion, background), not a confusion Consolidation -> Effusion (step 2 skips a detection that
overlaps ground truth of its own class). A detection of a third class on that box confuses with
one of the two (the one it overlaps most, the first in the file on a tie); the other is a miss.

Works for any number of classes, one and two included.
"""
import numpy as np

from tbmm.classes import DEFAULT_CLASSES

from .matching import box_iou
from .pairing import pair_records
from .score_thresholds import score_thresholds

BACKGROUND = 'background'


def threshold_array(classes, score_thr=0.3, class_thresholds=None):
    """Per-class thresholds (:func:`.score_thresholds.score_thresholds`) as an array in class order,
    and as ``{class: threshold}``."""
    thresholds = score_thresholds(classes, score_thr, class_thresholds)
    return np.array([thresholds[c] for c in classes], dtype=np.float64), thresholds


def confusion_from_pairing(pairing, score_thr=0.3, class_thresholds=None):
    """The confusion matrix of a :class:`.pairing.Pairing`; see :func:`confusion_matrix`."""
    p = pairing
    n_classes = len(p.classes)
    bg = n_classes
    thr, thresholds = threshold_array(p.classes, score_thr, class_thresholds)
    matrix = np.zeros((n_classes + 1, n_classes + 1), dtype=np.int64)
    det, gt = p.det, p.gt
    above = det.scores >= thr[det.labels] if len(det) else np.zeros(0, dtype=bool)

    # 1. Same class: AP50's true positives above threshold.
    tp = p.is_tp & above
    np.add.at(matrix, (det.labels[tp], det.labels[tp]), 1)
    found = np.zeros(len(gt), dtype=bool)
    found[p.matched_gt[tp]] = True

    # 2. Other class, from the highest score down, each ground truth taken at most once.
    unmatched = above & ~p.is_tp
    candidate = unmatched & (p.best_same_iou < p.iou_thr) & (p.best_other_iou >= p.iou_thr)
    confused = np.zeros(len(det), dtype=bool)
    if candidate.any():
        gt_by_image = p.gt_by_image()
        for d in p.rank[candidate[p.rank]]:
            others = gt_by_image[det.images[d]]
            others = others[(gt.labels[others] != det.labels[d]) & ~found[others]]
            if others.size == 0:
                continue
            iou = box_iou(det.boxes[d][None, :], gt.boxes[others])
            best = int(np.argmax(iou))  # ties: the first in the file
            if iou[best] >= p.iou_thr:
                g = others[best]
                found[g] = True
                confused[d] = True
                matrix[gt.labels[g], det.labels[d]] += 1

    # 3. Background column and row.
    false_positive = unmatched & ~confused
    np.add.at(matrix, (np.full(int(false_positive.sum()), bg), det.labels[false_positive]), 1)
    np.add.at(matrix, (gt.labels[~found], np.full(int((~found).sum()), bg)), 1)

    labels = list(p.classes) + [BACKGROUND]
    return {
        'labels': labels,
        'rows': 'ground truth', 'columns': 'prediction',
        'matrix': matrix.tolist(),
        'settings': {'iou_thr': float(p.iou_thr), 'score_thr': thresholds},
        'n_images': len(p.file_names),
        'n_gt': {c: int(n) for c, n in zip(p.classes, p.n_gt)},
        'n_det_above_thr': {c: int(n) for c, n in
                            zip(p.classes, np.bincount(det.labels[above], minlength=n_classes))},
        'ignored_classes': p.ignored,
        'n_pred_files_not_in_gt': len(p.pred_files_not_in_gt),
    }


def confusion_matrix(gt_records, pred_records, classes=DEFAULT_CLASSES, score_thr=0.3,
                     iou_thr=0.5, class_thresholds=None):
    """Count detections and ground truth into a (classes + background)^2 matrix; module docstring.

    Args:
        gt_records, pred_records: records in the annotation format (predictions with ``scores``),
            as for :func:`.evaluate_records`.
        classes: class names, in row/column order.
        score_thr: detections scoring below it are left out.
        class_thresholds: optional ``{class: threshold}`` overriding ``score_thr`` per class (e.g.
            from :func:`.score_thresholds.read_thresholds`).
        iou_thr: IoU at which a detection finds a ground truth.

    Returns:
        ``{"labels": classes + ["background"], "matrix": [[count]] (rows = ground truth, columns =
        prediction), "settings": {"iou_thr", "score_thr": {class: t}}, "n_images", "n_gt",
        "n_det_above_thr", "ignored_classes", "n_pred_files_not_in_gt"}``.
    """
    return confusion_from_pairing(pair_records(gt_records, pred_records, classes, iou_thr),
                                  score_thr, class_thresholds)
