"""RetinaNet's detections from its raw output maps, in numpy: anchors, box decoding, class-wise NMS.

Written from the published definitions, to give what mmdet's ``RetinaHead.predict_by_feat``
gives for the same maps:

* Anchors (Lin et al., *Focal Loss for Dense Object Detection*, 2017, sec. 4; mmdet's
  ``AnchorGenerator``): per level, a base size ``b`` (the stride), scales ``s`` and aspect
  ratios ``r = h / w``; each base anchor has ``w = b * s / sqrt(r)``, ``h = b * s * sqrt(r)``,
  centred at ``center_offset * b``, ratios outer and scales inner in the anchor order
  (``scale_major``). They are repeated at every feature-map cell ``(x * stride_w, y * stride_h)``,
  rows first, the anchors of a cell together: the order of the head's ``(A*K, H, W)`` maps read as
  ``(H, W, A, K)``.
* Box deltas (R-CNN's parametrisation; mmdet's ``DeltaXYWHBBoxCoder``): ``d = delta * std + mean``,
  ``dw, dh`` clipped to ``|log(wh_ratio_clip)|``; centre ``c + d_xy * wh``, size ``wh * exp(d_wh)``
  of the anchor ``(c, wh)``; corners clipped to the resized image when ``clip_border``.
* Per image: sigmoid scores; per level, the ``nms_pre`` best (anchor, class) pairs scoring above
  ``score_thr``; boxes decoded, scaled back to the original image, boxes without area (width or
  height <= ``min_bbox_size``) dropped, then greedy NMS per class (a box is suppressed by a
  higher-scored box of **its own class** with IoU > ``iou_threshold``, so identical boxes of two
  classes both stay) and the ``max_per_img`` best kept, highest score first.
"""
import math

import numpy as np


def base_anchors(base_size, scales, ratios, center_offset=0.0, scale_major=True):
    """The ``(A, 4)`` anchors ``x1, y1, x2, y2`` of one cell at the origin (float32)."""
    scales = np.asarray(scales, np.float32)
    h_ratios = np.sqrt(np.asarray(ratios, np.float32))
    w_ratios = np.float32(1) / h_ratios
    size = np.float32(base_size)
    if scale_major:  # ratios outer, scales inner
        widths = (size * w_ratios[:, None] * scales[None, :]).reshape(-1)
        heights = (size * h_ratios[:, None] * scales[None, :]).reshape(-1)
    else:
        widths = (size * scales[:, None] * w_ratios[None, :]).reshape(-1)
        heights = (size * scales[:, None] * h_ratios[None, :]).reshape(-1)
    center = np.float32(center_offset) * size
    half_w, half_h = np.float32(0.5) * widths, np.float32(0.5) * heights
    return np.stack([center - half_w, center - half_h, center + half_w, center + half_h], axis=-1)


def grid_anchors(cell_anchors, featmap_size, stride):
    """``(H * W * A, 4)`` anchors of a level: ``cell_anchors`` shifted to every cell, rows first.

    ``featmap_size`` is ``(H, W)``, ``stride`` ``(stride_w, stride_h)``.
    """
    height, width = featmap_size
    shift_x = np.arange(width, dtype=np.float32) * np.float32(stride[0])
    shift_y = np.arange(height, dtype=np.float32) * np.float32(stride[1])
    xx, yy = np.meshgrid(shift_x, shift_y)  # (H, W): x varies along a row
    shifts = np.stack([xx, yy, xx, yy], axis=-1).reshape(-1, 1, 4)
    return (shifts + cell_anchors[None, :, :]).reshape(-1, 4)


class AnchorGrid:
    """Anchors of every level from the ``tbmm.anchor_generator`` metadata, cached per map size."""

    def __init__(self, settings):
        self.strides = [tuple(float(v) for v in s) for s in settings['strides']]
        self.cell_anchors = [
            base_anchors(size, settings['scales'], settings['ratios'],
                         settings.get('center_offset', 0.0), settings.get('scale_major', True))
            for size in settings['base_sizes']]
        self._cache = {}

    @property
    def num_anchors(self):
        return len(self.cell_anchors[0])

    def level(self, index, featmap_size):
        key = (index, tuple(featmap_size))
        if key not in self._cache:
            self._cache[key] = grid_anchors(self.cell_anchors[index], featmap_size,
                                            self.strides[index])
        return self._cache[key]


def decode_boxes(anchors, deltas, means=(0., 0., 0., 0.), stds=(1., 1., 1., 1.),
                 max_shape=None, wh_ratio_clip=16 / 1000):
    """Boxes ``(n, 4)`` from anchors and deltas (``DeltaXYWHBBoxCoder``'s decoding, float32).

    ``max_shape`` ``(height, width)``: clip the corners to ``[0, width] x [0, height]``.
    """
    deltas = deltas.astype(np.float32) * np.asarray(stds, np.float32) \
        + np.asarray(means, np.float32)
    max_ratio = np.float32(abs(math.log(wh_ratio_clip)))
    d_xy = deltas[:, :2]
    d_wh = np.clip(deltas[:, 2:], -max_ratio, max_ratio)
    anchor_centre = (anchors[:, :2] + anchors[:, 2:]) * np.float32(0.5)
    anchor_size = anchors[:, 2:] - anchors[:, :2]
    centre = anchor_centre + anchor_size * d_xy
    size = anchor_size * np.exp(d_wh)
    boxes = np.concatenate([centre - size * np.float32(0.5), centre + size * np.float32(0.5)],
                           axis=1)
    if max_shape is not None:
        height, width = max_shape[:2]
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
    return boxes


def box_iou_one_to_many(box, boxes):
    """IoU of ``box`` (4,) with each of ``boxes`` (n, 4); areas ``(x2 - x1) * (y2 - y1)``."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def nms(boxes, scores, iou_threshold):
    """Greedy NMS: indices of the kept boxes, highest score first; a box is dropped when a kept
    higher-scored box overlaps it with IoU > ``iou_threshold``."""
    order = np.argsort(-scores, kind='stable')
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def class_wise_nms(boxes, scores, labels, iou_threshold):
    """:func:`nms` within each class; indices of the kept boxes, highest score first."""
    kept = [np.flatnonzero(labels == label)[nms(boxes[labels == label], scores[labels == label],
                                                 iou_threshold)]
            for label in np.unique(labels)]
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return kept[np.argsort(-scores[kept], kind='stable')]


def sigmoid(logits):
    """Logistic function in float32."""
    return np.float32(1) / (np.float32(1) + np.exp(-logits.astype(np.float32)))


def detect_single_image(cls_maps, box_maps, anchor_grid, img_shape, scale_factor, bbox_coder,
                        settings):
    """Detections of one image from its per-level maps.

    Args:
        cls_maps: per level ``(A*K, H, W)`` classification logits.
        box_maps: per level ``(A*4, H, W)`` box deltas.
        anchor_grid: :class:`AnchorGrid`.
        img_shape: ``(height, width)`` of the resized image (before padding): boxes are clipped to
            it.
        scale_factor: ``(w_scale, h_scale)`` of the resize: boxes are divided by it.
        bbox_coder, settings: the ``tbmm.bbox_coder`` and ``tbmm.postprocess`` metadata.

    Returns ``(boxes (n, 4) in original pixels, scores (n,), labels (n,))``, highest score first.
    """
    score_thr = float(settings.get('score_thr', 0.0))
    nms_pre = int(settings.get('nms_pre', -1))
    all_scores, all_labels, all_boxes = [], [], []
    # The sigmoid is monotonic: only logits near or above the threshold's need it (a margin
    # keeps the exact `score > score_thr` test on the float32 scores).
    logit_thr = math.log(score_thr / (1 - score_thr)) - 1e-3 if 0 < score_thr < 1 else -math.inf
    for level, (cls_map, box_map) in enumerate(zip(cls_maps, box_maps)):
        featmap_size = cls_map.shape[-2:]
        num_classes = cls_map.shape[0] // anchor_grid.num_anchors
        logits = cls_map.transpose(1, 2, 0).reshape(-1)  # rows (y, x, anchor), columns classes
        deltas = box_map.transpose(1, 2, 0).reshape(-1, 4)
        candidates = np.flatnonzero(logits > logit_thr)
        scores = sigmoid(logits[candidates])
        passing = scores > score_thr
        candidates, scores = candidates[passing], scores[passing]
        if 0 < nms_pre < len(scores):  # the nms_pre best, found without sorting them all
            best = np.argpartition(-scores, nms_pre - 1)[:nms_pre]
            candidates, scores = candidates[best], scores[best]
        order = np.argsort(-scores, kind='stable')
        candidates, scores = candidates[order], scores[order]
        anchor_index, labels = np.divmod(candidates, num_classes)
        anchors = anchor_grid.level(level, featmap_size)[anchor_index]
        all_boxes.append(decode_boxes(anchors, deltas[anchor_index],
                                      bbox_coder.get('target_means', (0., 0., 0., 0.)),
                                      bbox_coder.get('target_stds', (1., 1., 1., 1.)),
                                      img_shape if bbox_coder.get('clip_border', True) else None,
                                      bbox_coder.get('wh_ratio_clip', 16 / 1000)))
        all_scores.append(scores)
        all_labels.append(labels)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0, np.float32)
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0, np.int64)
    w_scale, h_scale = scale_factor
    boxes = boxes / np.asarray([w_scale, h_scale, w_scale, h_scale], np.float32)
    min_size = settings.get('min_bbox_size', -1)
    if min_size is not None and min_size >= 0:
        sizes = boxes[:, 2:] - boxes[:, :2]
        has_size = (sizes[:, 0] > min_size) & (sizes[:, 1] > min_size)
        boxes, scores, labels = boxes[has_size], scores[has_size], labels[has_size]
    keep = class_wise_nms(boxes, scores, labels, float(settings['iou_threshold']))
    max_per_img = settings.get('max_per_img')
    if max_per_img is not None and max_per_img > 0:
        keep = keep[:int(max_per_img)]
    return boxes[keep], scores[keep], labels[keep]
