"""Greedy matching of detections to ground truth, vectorised over all detections of one class.

Both the VOC-style AP and the ChestX-Det10 FROC use the same rule: walk the detections from the
highest score down; a detection is a true positive when the ground truth it overlaps most (in its
own image) has IoU >= the threshold and was not claimed by an earlier detection. A detection whose
best ground truth is already claimed is a false positive even if a second ground truth would also
match: this is what the official FROC script and mmdet's ``eval_map`` (VOC) do.
"""
import numpy as np

# Bounds the (detections x ground truths per image) IoU block computed at once, so one image
# crowded with ground truth cannot blow up memory.
_MAX_IOU_BLOCK = 4_000_000


def box_iou(boxes, other, inclusive_pixels=False):
    """IoU between paired boxes of the same shape ``(..., 4)`` as ``[x1, y1, x2, y2]``.

    ``inclusive_pixels=True`` uses the pixel-count convention of the official ChestX-Det10 script
    (width = x2 - x1 + 1); otherwise the continuous one of COCO and mmdet (width = x2 - x1).
    """
    extra = 1.0 if inclusive_pixels else 0.0
    ix = np.minimum(boxes[..., 2], other[..., 2]) - np.maximum(boxes[..., 0], other[..., 0]) + extra
    iy = np.minimum(boxes[..., 3], other[..., 3]) - np.maximum(boxes[..., 1], other[..., 1]) + extra
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    area_a = (boxes[..., 2] - boxes[..., 0] + extra) * (boxes[..., 3] - boxes[..., 1] + extra)
    area_b = (other[..., 2] - other[..., 0] + extra) * (other[..., 3] - other[..., 1] + extra)
    union = area_a + area_b - inter
    # Degenerate predicted boxes (zero area) may give a zero union; they overlap nothing.
    return inter / np.maximum(union, np.finfo(np.float64).tiny)


def check_iou_threshold(iou_thr):
    """``iou_thr`` as a float, or ``ValueError`` unless ``0 < iou_thr <= 1`` (at 0 a detection
    touching nothing would match)."""
    iou_thr = float(iou_thr)
    if not 0.0 < iou_thr <= 1.0:
        raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr:g}')
    return iou_thr


def rank_by_score(scores):
    """Indices that sort ``scores`` from highest to lowest; ties keep their input order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')


def match_detections(det_boxes, det_image, gt_boxes, gt_image, iou_thr=0.5,
                     inclusive_pixels=False):
    """Flag each detection as true positive, for detections already ranked by score.

    Args:
        det_boxes: (D, 4) detections of one class, highest score first.
        det_image: (D,) image index of each detection.
        gt_boxes: (G, 4) ground truth of the same class.
        gt_image: (G,) image index of each ground truth.

    Returns:
        (D,) bool array: True where the detection is a true positive.
    """
    iou_thr = check_iou_threshold(iou_thr)
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    det_image = np.asarray(det_image, dtype=np.int64)
    gt_image = np.asarray(gt_image, dtype=np.int64)
    n_det = len(det_boxes)
    is_tp = np.zeros(n_det, dtype=bool)
    if n_det == 0 or len(gt_boxes) == 0:
        return is_tp

    # Lay each image's ground truth out in one padded row, keeping the file order within an image
    # so that ties in IoU resolve to the first ground truth (np.argmax), as in the official script.
    gt_order = np.argsort(gt_image, kind='stable')
    n_images = int(max(det_image.max(), gt_image.max())) + 1
    gt_count = np.bincount(gt_image, minlength=n_images)
    gt_start = np.concatenate(([0], np.cumsum(gt_count)[:-1]))
    width = int(gt_count.max())
    slots = np.arange(width)

    best_gt = np.full(n_det, -1, dtype=np.int64)
    chunk = max(1, _MAX_IOU_BLOCK // width)
    for begin in range(0, n_det, chunk):
        end = min(begin + chunk, n_det)
        image = det_image[begin:end]
        valid = slots[None, :] < gt_count[image][:, None]
        slot_index = np.where(valid, gt_start[image][:, None] + slots[None, :], 0)
        candidates = gt_order[slot_index]
        iou = box_iou(det_boxes[begin:end, None, :], gt_boxes[candidates], inclusive_pixels)
        iou = np.where(valid, iou, -1.0)
        best_slot = np.argmax(iou, axis=1)
        rows = np.arange(end - begin)
        # valid: an image without ground truth has only padding slots, which match nothing.
        matched = valid[rows, best_slot] & (iou[rows, best_slot] >= iou_thr)
        best_gt[begin:end] = np.where(matched, candidates[rows, best_slot], -1)

    # The first (highest-ranked) detection to reach a ground truth claims it; later ones are FPs.
    matched_index = np.flatnonzero(best_gt >= 0)
    _, first = np.unique(best_gt[matched_index], return_index=True)
    is_tp[matched_index[first]] = True
    return is_tp
