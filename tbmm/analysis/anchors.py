"""Anchor coverage: how well a config's anchors fit the ground-truth boxes.

A box is *covered* at IoU ``t`` when its best anchor (over all levels, shapes and grid positions of
the config's anchor generator, boxes scaled to the network input as the training pipeline's
``Resize`` does) reaches IoU >= ``t``. At ``t = pos_iou_thr`` of the assigner, covered boxes get
ordinary positive anchors; the others only their single best anchor through the assigner's
low-quality matching (``min_pos_iou``), however poor it is.

The best IoU is exact but cheap: for anchors of one shape, IoU with a box only falls as the anchor
centre moves away from the box centre along x or y, so per level and shape the best anchor sits at
one of the 2 x 2 grid positions around the box centre. That is 4 x shapes x levels IoUs per box
instead of an IoU matrix over every anchor of the image (:meth:`AnchorLayout.all_anchors` gives
those for checking).
"""
import math
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from tbmm.datasets.dataset_cfg import innermost_dataset, is_resize

#: Default image size of ChestX-Det (every image is 1024 x 1024).
CHESTXDET_IMAGE_SIZE = 1024


@dataclass(frozen=True)
class AnchorLevel:
    """The anchors of one feature level, in network-input pixels."""
    base_anchors: np.ndarray  # (A, 4) anchor shapes around the first grid centre
    centre: Tuple[float, float]  # centre of the anchors at grid position (0, 0)
    stride: Tuple[float, float]  # (x, y) distance between grid positions
    grid_size: Tuple[int, int]  # (width, height) of the feature map


@dataclass(frozen=True)
class AnchorLayout:
    """Every anchor of one input size, and the scaling of original-image boxes to that input."""
    levels: List[AnchorLevel]
    box_scale: Tuple[float, float]  # (x, y) original pixels -> network-input pixels
    image_size: Tuple[int, int]  # original (width, height)
    input_size: Tuple[int, int]  # (width, height) after Resize, before padding

    def scale_boxes(self, boxes):
        """Original-image boxes ``(N, 4)`` in network-input pixels."""
        sx, sy = self.box_scale
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * np.array([sx, sy, sx, sy])

    def all_anchors(self):
        """Every anchor of every level, ``(M, 4)`` (for brute-force checks; M is large)."""
        out = []
        for level in self.levels:
            width, height = level.grid_size
            xs = level.centre[0] + np.arange(width) * level.stride[0]
            ys = level.centre[1] + np.arange(height) * level.stride[1]
            cx, cy = (g.ravel() for g in np.meshgrid(xs, ys))
            shift = np.stack([cx, cy, cx, cy], axis=1) - np.array(level.centre * 2)
            out.append((shift[:, None, :] + level.base_anchors[None]).reshape(-1, 4))
        return np.concatenate(out)

    def best_anchor_iou(self, boxes):
        """IoU of each box's best anchor, for ``boxes`` ``(N, 4)`` in network-input pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        best = np.zeros(len(boxes))
        if not len(boxes):
            return best
        box_cx = (boxes[:, 0] + boxes[:, 2]) / 2
        box_cy = (boxes[:, 1] + boxes[:, 3]) / 2
        for level in self.levels:
            xs = _nearest_grid_centres(box_cx, level.centre[0], level.stride[0],
                                       level.grid_size[0])
            ys = _nearest_grid_centres(box_cy, level.centre[1], level.stride[1],
                                       level.grid_size[1])
            # (N, 2, 2) candidate centres -> (N, 4 positions, A shapes, 4 coordinates)
            cx = np.broadcast_to(xs[:, :, None], (len(boxes), 2, 2)).reshape(-1, 4)
            cy = np.broadcast_to(ys[:, None, :], (len(boxes), 2, 2)).reshape(-1, 4)
            offsets = level.base_anchors - np.array(level.centre * 2)
            anchors = np.stack([cx, cy, cx, cy], axis=-1)[:, :, None, :] + offsets[None, None]
            ious = _iou(boxes[:, None, None, :], anchors)
            best = np.maximum(best, ious.reshape(len(boxes), -1).max(axis=1))
        return best


def _nearest_grid_centres(values, first, stride, size):
    """The grid centres just below and above each value, ``(N, 2)``, clamped into the grid."""
    low = np.floor((values - first) / stride)
    index = np.clip(np.stack([low, low + 1], axis=1), 0, size - 1)
    return first + index * stride


def _iou(a, b):
    """IoU of broadcastable ``(..., 4)`` box arrays, continuous coordinates (as mmdet)."""
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, np.finfo(np.float64).eps)


def _train_pipeline(cfg):
    return innermost_dataset(cfg.train_dataloader.dataset).get('pipeline', [])


def input_size_of(cfg, image_size):
    """``(width, height)`` the training pipeline's ``Resize`` makes of an ``image_size`` image."""
    from mmcv.image import rescale_size

    resizes = [t for t in _train_pipeline(cfg) if is_resize(t)]
    if not resizes:
        return tuple(image_size)
    resize = resizes[0]
    scale = resize.get('scale')
    if isinstance(scale, int):  # Resize reads an int as a square scale
        scale = (scale, scale)
    if not (isinstance(scale, (tuple, list)) and len(scale) == 2
            and all(isinstance(v, (int, float)) for v in scale)):
        raise ValueError(f'the training Resize has scale={scale!r}; anchor coverage needs one '
                         'fixed (width, height) scale')
    if resize.get('keep_ratio', False):
        # The same rounding as mmcv.imrescale, which Resize(keep_ratio=True) uses.
        return tuple(rescale_size(tuple(image_size), tuple(scale)))
    return int(scale[0]), int(scale[1])


def anchor_layout_from_config(cfg, image_size=CHESTXDET_IMAGE_SIZE):
    """The :class:`AnchorLayout` of ``cfg``'s ``model.bbox_head.anchor_generator`` for images of
    ``image_size`` (an int for square images, or ``(width, height)``), resized as the training
    pipeline does and padded to the data preprocessor's ``pad_size_divisor``."""
    import mmdet.models.task_modules  # noqa: F401  (registers AnchorGenerator in TASK_UTILS)
    from mmdet.registry import TASK_UTILS
    from mmengine.registry import init_default_scope

    image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    head = cfg.model.get('bbox_head') or {}
    if 'anchor_generator' not in head:
        raise ValueError('the config has no model.bbox_head.anchor_generator (an anchor-based '
                         'single-stage detector such as RetinaNet is needed)')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    generator = TASK_UTILS.build(head.anchor_generator)
    input_size = input_size_of(cfg, image_size)
    divisor = int((cfg.model.get('data_preprocessor') or {}).get('pad_size_divisor', 1) or 1)
    padded = [math.ceil(v / divisor) * divisor for v in input_size]
    levels = []
    for base, (stride_x, stride_y) in zip(generator.base_anchors, generator.strides):
        base = base.detach().cpu().numpy().astype(np.float64)
        centre = (float((base[0, 0] + base[0, 2]) / 2), float((base[0, 1] + base[0, 3]) / 2))
        # ResNet/FPN strided convs round up, so a level of stride s is ceil(padded / s) wide.
        grid = (math.ceil(padded[0] / stride_x), math.ceil(padded[1] / stride_y))
        levels.append(AnchorLevel(base, centre, (float(stride_x), float(stride_y)), grid))
    box_scale = (input_size[0] / image_size[0], input_size[1] / image_size[1])
    return AnchorLayout(levels, box_scale, image_size, input_size)


def assigner_pos_iou_thr(cfg):
    """``model.train_cfg.assigner.pos_iou_thr`` of ``cfg``, or None."""
    assigner = (cfg.model.get('train_cfg') or {}).get('assigner') or {}
    value = assigner.get('pos_iou_thr')
    return None if value is None else float(value)


def anchor_coverage(records, layout, classes=None, iou_thrs=(0.5,)):
    """Share of ground-truth boxes per class whose best anchor reaches each IoU threshold.

    Args:
        records: annotation records, boxes in original-image pixels.
        layout: an :class:`AnchorLayout` (see :func:`anchor_layout_from_config`).
        classes: class names to report, in order; default: every class in the records, sorted.
        iou_thrs: IoU thresholds (e.g. 0.5 and the assigner's ``pos_iou_thr``).

    Returns ``{"iou_thrs", "image_size", "input_size", "per_class": {name: {"boxes",
    "median_best_iou", "covered": {"<thr>": share}}}, "all": {...}}``; shares are in [0, 1],
    ``None`` for a class without boxes.
    """
    from tbmm.analysis.stats import classes_in

    classes = list(classes) if classes is not None else classes_in(records)
    iou_thrs = sorted({float(t) for t in iou_thrs})
    names, boxes = [], []
    for record in records:
        names.extend(record['syms'])
        boxes.extend(record['boxes'])
    names = np.asarray(names, dtype=object)
    best = layout.best_anchor_iou(layout.scale_boxes(boxes))

    def summary(mask):
        values = best[mask]
        return {'boxes': int(values.size),
                'median_best_iou': round(float(np.median(values)), 4) if values.size else None,
                'covered': {f'{t:g}': (float((values >= t).mean()) if values.size else None)
                            for t in iou_thrs}}

    listed = np.isin(names, classes) if len(names) else np.zeros(0, dtype=bool)
    return {
        'iou_thrs': iou_thrs,
        'image_size': list(layout.image_size),
        'input_size': list(layout.input_size),
        'per_class': {name: summary(names == name) for name in classes},
        'all': summary(listed),
    }


def format_coverage(coverage):
    """Text table of :func:`anchor_coverage`: boxes, median best IoU and % covered per threshold.

    A ``pos_iou_thr`` key in ``coverage`` (the assigner's) marks that threshold's column.
    """
    thrs = [f'{t:g}' for t in coverage['iou_thrs']]
    pos = coverage.get('pos_iou_thr')
    header = ['class', 'boxes', 'median IoU'] + [
        f'IoU>={t}' + (' (pos_iou_thr)' if pos is not None and float(t) == pos else '')
        for t in thrs]
    rows = []
    for name, entry in list(coverage['per_class'].items()) + [('all', coverage['all'])]:
        shares = [('-' if entry['covered'][t] is None else f'{100 * entry["covered"][t]:.1f} %')
                  for t in thrs]
        median = '-' if entry['median_best_iou'] is None else f'{entry["median_best_iou"]:.3f}'
        rows.append([name, entry['boxes'], median] + shares)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ['  '.join(f'{str(v):<{w}}' if i == 0 else f'{str(v):>{w}}'
                       for i, (v, w) in enumerate(zip(row, widths))) for row in [header] + rows]
    size = coverage['image_size']
    title = (f'anchor coverage (best-anchor IoU; images {size[0]}x{size[1]} -> network input '
             f'{coverage["input_size"][0]}x{coverage["input_size"][1]})')
    return title + '\n' + '\n'.join(lines)
