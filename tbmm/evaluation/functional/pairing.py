"""Every detection with its overlaps on the ground truth of its image, all classes at once.

The confusion matrix (:mod:`.confusion`), the error analysis (:mod:`.errors`) and the per-class
curves (:mod:`.class_curves`) all start from :func:`pair_records`: the records flattened to one
array of detections and one of ground-truth boxes, and for each detection

* ``best_same_gt`` / ``best_same_iou``: the ground truth *of its class* in its image that it
  overlaps most (ties: the first in the file), -1 / 0 when its image has none of that class;
* ``best_other_gt`` / ``best_other_iou``: the same over the ground truth of the *other* classes;
* ``is_tp``: true positive at ``iou_thr`` by exactly the rule of AP50 (:mod:`.matching`): walking
  all detections from the highest score down (ties in input order), a detection is a true positive
  when its best same-class ground truth has IoU >= ``iou_thr`` and no higher-ranked detection
  claimed it.
  So the flags, and any AP computed from them, equal :func:`.evaluate_records`' ``ap50``.

IoU uses continuous coordinates (width = x2 - x1) like ``ap50``. The IoU is computed image by image
for all detections at once (a padded detections x ground-truths-of-the-image block, in chunks), so
542 images x 100 detections take milliseconds.

Identical boxes of several classes (one finding labelled Consolidation and Effusion) are one
ground truth per class, as everywhere in tbmm.
"""

import numpy as np

from tbmm.classes import DEFAULT_CLASSES

from .evaluate import (
    Boxes,  # noqa: F401  (the type of Pairing.gt / .det)
    flatten_records,
    index_images,
)
from .matching import box_iou, check_iou_threshold, rank_by_score

# Bounds the (detections x ground truths per image) IoU block computed at once.
_MAX_IOU_BLOCK = 4_000_000


class Pairing:
    """The result of :func:`pair_records` (see the module docstring for the per-detection arrays).

    Also: ``file_names`` (the ground truth's, in order), ``classes``, ``iou_thr``, ``gt`` and
    ``det`` (:class:`Boxes`), ``rank`` (detection indices from the highest score down, ties in
    input order), ``matched_gt`` (per detection: the ground truth it is the true positive of, else
    -1),
    ``gt_matched_by`` (per ground truth: its true positive, else -1), ``n_gt`` (per class), and
    ``ignored`` (``{'gt': {class: boxes}, 'pred': {...}}`` outside the class list) and
    ``pred_files_not_in_gt``.
    """

    def gt_by_image(self):
        """Per image, the indices of its ground-truth boxes (file order)."""
        return _split_by_image(self.gt.images, len(self.file_names))

    def det_by_image(self):
        """Per image, the indices of its detections, highest score first."""
        ranked_images = self.det.images[self.rank]
        order = np.argsort(ranked_images, kind='stable')
        return [self.rank[part] for part in
                _split_sorted(ranked_images[order], order, len(self.file_names))]


def _split_by_image(images, n_images):
    order = np.argsort(images, kind='stable')
    return _split_sorted(images[order], order, n_images)


def _split_sorted(sorted_images, order, n_images):
    bounds = np.searchsorted(sorted_images, np.arange(n_images + 1), side='left')
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_images)]


def _best_overlaps(det, gt, n_images):
    """Best same-class and other-class ground truth (index, IoU) of every detection."""
    n_det = len(det)
    best_same = np.full(n_det, -1, dtype=np.int64)
    best_other = np.full(n_det, -1, dtype=np.int64)
    same_iou = np.zeros(n_det)
    other_iou = np.zeros(n_det)
    if n_det == 0 or len(gt) == 0:
        return best_same, same_iou, best_other, other_iou
    # Each image's ground truth laid out in one padded row, file order kept (ties -> first).
    gt_order = np.argsort(gt.images, kind='stable')
    gt_count = np.bincount(gt.images, minlength=n_images)
    gt_start = np.concatenate(([0], np.cumsum(gt_count)[:-1]))
    width = int(gt_count.max())
    slots = np.arange(width)
    chunk = max(1, _MAX_IOU_BLOCK // width)
    for begin in range(0, n_det, chunk):
        end = min(begin + chunk, n_det)
        image = det.images[begin:end]
        valid = slots[None, :] < gt_count[image][:, None]
        candidates = gt_order[np.where(valid, gt_start[image][:, None] + slots[None, :], 0)]
        iou = box_iou(det.boxes[begin:end, None, :], gt.boxes[candidates])
        same = valid & (gt.labels[candidates] == det.labels[begin:end, None])
        rows = np.arange(end - begin)
        for mask, best, best_iou in ((same, best_same, same_iou),
                                     (valid & ~same, best_other, other_iou)):
            masked = np.where(mask, iou, -1.0)
            slot = np.argmax(masked, axis=1)
            found = mask[rows, slot]
            best[begin:end] = np.where(found, candidates[rows, slot], -1)
            best_iou[begin:end] = np.where(found, masked[rows, slot], 0.0)
    return best_same, same_iou, best_other, other_iou


def pair_records(gt_records, pred_records, classes=DEFAULT_CLASSES, iou_thr=0.5):
    """Flatten ground truth and predictions and overlap every detection with its image's ground
    truth; returns a :class:`Pairing`.

    ``gt_records`` define the evaluation images (records without boxes are negatives); prediction
    records for other files are ignored (listed in ``pred_files_not_in_gt``); boxes of classes not
    in ``classes`` are counted in ``ignored``.
    """
    iou_thr = check_iou_threshold(iou_thr)
    classes = [str(c) for c in classes]
    class_index = {name: k for k, name in enumerate(classes)}
    image_index = index_images(gt_records, 'to evaluate')
    gt, gt_ignored, _ = flatten_records(gt_records, image_index, class_index, 'gt')
    det, det_ignored, unknown_files = flatten_records(pred_records, image_index, class_index,
                                                       'pred')

    p = Pairing()
    p.file_names = list(image_index)
    p.classes = classes
    p.iou_thr = iou_thr
    p.gt, p.det = gt, det
    p.ignored = {'gt': gt_ignored, 'pred': det_ignored}
    p.pred_files_not_in_gt = unknown_files
    p.n_gt = np.bincount(gt.labels, minlength=len(classes))
    p.rank = rank_by_score(det.scores) if len(det) else np.zeros(0, dtype=np.int64)
    (p.best_same_gt, p.best_same_iou, p.best_other_gt,
     p.best_other_iou) = _best_overlaps(det, gt, len(image_index))

    # AP50's rule: the highest-ranked detection reaching a ground truth (as its best) claims it.
    ranked_best = p.best_same_gt[p.rank]
    reaches = np.flatnonzero((ranked_best >= 0) & (p.best_same_iou[p.rank] >= iou_thr))
    _, first = np.unique(ranked_best[reaches], return_index=True)
    winners = p.rank[reaches[first]]
    p.is_tp = np.zeros(len(det), dtype=bool)
    p.is_tp[winners] = True
    p.matched_gt = np.full(len(det), -1, dtype=np.int64)
    p.matched_gt[winners] = p.best_same_gt[winners]
    p.gt_matched_by = np.full(len(gt), -1, dtype=np.int64)
    p.gt_matched_by[p.best_same_gt[winners]] = winners
    return p
