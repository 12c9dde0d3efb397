"""Where and how big the phantom's lesions are: :func:`sample_lesions` sizes each one from the real
box statistics and places it where its class occurs in the thorax, keeping lesions apart."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from tbmm.datasets.phantom.anatomy import Thorax
from tbmm.datasets.phantom.box_stats import LesionClasses, check_known_classes, sample_box_size

__all__ = ['LesionSpec', 'sample_lesions']


@dataclass(frozen=True)
class LesionSpec:
    """Where and how big to draw one lesion; the final box is tightened around the drawing.

    ``syms`` is one class, or ``MULTILABEL_PAIR`` for one box labelled with both classes.
    ``side`` says which lung it is in (-1 image-left, +1 image-right), i.e. which way is lateral.
    """
    syms: Tuple[str, ...]
    center: Tuple[float, float]  # (x, y) in pixels
    size: Tuple[float, float]  # nominal (w, h) in pixels
    side: int


# Vertical (0 apex → 1 base) and lateral (0 medial → 1 lateral) ranges where each class is placed.
_PLACEMENT = {
    'Consolidation': ((0.3, 0.8), (0.2, 0.8)),
    'Fibrosis': ((0.15, 0.7), (0.2, 0.8)),
    'Effusion': (None, None),  # sits on the diaphragm against the lateral wall, see _place
    'Nodule': ((0.1, 0.85), (0.1, 0.9)),
    'Mass': ((0.2, 0.8), (0.2, 0.8)),
    'Emphysema': ((0.35, 0.55), (0.35, 0.65)),
    'Calcification': ((0.1, 0.85), (0.1, 0.9)),
    'Atelectasis': ((0.45, 0.85), (0.2, 0.8)),
    'Fracture': ((0.05, 0.8), (0.6, 1.0)),
}


def _box_overlap(a, b, same_class):
    """IoU, or for two lesions of one class intersection over the smaller box: two overlapping
    masses would merge into one blob, while a nodule inside an emphysema stays recognisable."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    if same_class:
        return inter / min(area_a, area_b)
    return inter / (area_a + area_b - inter)


def _fit_interval(centre, extent, lo, hi, image_size):
    """Shift a box centre so the box lies within [lo, hi], or within the image if it is wider."""
    lo, hi = max(lo, 1.0), min(hi, image_size - 1.0)
    if hi - lo < extent:
        lo, hi = 1.0, image_size - 1.0
    return float(np.clip(centre, lo + extent / 2, max(lo + extent / 2, hi - extent / 2)))


def _place(rng, thorax, class_name, size):
    """Pick a side and a box centre where this class occurs, keeping the box in the thorax."""
    w, h = size
    side = int(rng.choice([-1, 1]))
    medial, lateral = thorax.lung_x_range(side)
    height = thorax.base_y - thorax.apex_y
    s = thorax.image_size
    if class_name == 'Effusion':
        cy = thorax.base_y + s * rng.uniform(-0.02, 0.02) - h / 2
        cx = lateral + side * s * rng.uniform(-0.015, 0.01) - side * w / 2
    else:
        (v0, v1), (l0, l1) = _PLACEMENT[class_name]
        cy = thorax.apex_y + rng.uniform(v0, v1) * height
        cx = medial + side * rng.uniform(l0, l1) * thorax.lung_width
    # Keep the box inside the chest where it fits, and inside the image in any case.
    cx = _fit_interval(cx, w, thorax.midline - thorax.body_half_width,
                       thorax.midline + thorax.body_half_width, s)
    cy = _fit_interval(cy, h, thorax.apex_y - 0.04 * s, thorax.base_y + 0.04 * s, s)
    return (cx, cy), side


def sample_lesions(rng: np.random.Generator, thorax: Thorax,
                   lesion_classes: Sequence[LesionClasses]) -> List[LesionSpec]:
    """Size and place one lesion per entry (a class name or a tuple sharing one box).

    Sizes follow :data:`REAL_BOX_STATS`; a multi-label box takes the first class's size and is
    placed like an effusion. A few placements are tried to keep lesions from piling up.
    """
    specs: List[LesionSpec] = []
    placed = []  # (box, syms) of the lesions so far
    for entry in lesion_classes:
        syms = (entry, ) if isinstance(entry, str) else tuple(entry)
        check_known_classes(syms)
        placement_class = 'Effusion' if 'Effusion' in syms else syms[0]
        size = sample_box_size(rng, syms[0], thorax.image_size)
        best = None
        for _ in range(8):
            center, side = _place(rng, thorax, placement_class, size)
            box = (center[0] - size[0] / 2, center[1] - size[1] / 2,
                   center[0] + size[0] / 2, center[1] + size[1] / 2)
            overlap = max((_box_overlap(box, other, bool(set(syms) & set(other_syms)))
                           for other, other_syms in placed), default=0.0)
            if best is None or overlap < best[0]:
                best = (overlap, center, side, box)
            if overlap <= 0.15:
                break
        _, center, side, box = best
        placed.append((box, syms))
        specs.append(LesionSpec(syms=syms, center=center, size=size, side=side))
    return specs
