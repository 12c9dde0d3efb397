"""Box statistics of the real ChestX-Det training annotations that the phantom imitates: box sizes
and aspect ratios per class, class frequencies, lesions per image."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple, Union

import numpy as np

from tbmm.classes import DEFAULT_CLASSES

__all__ = ['REFERENCE_IMAGE_SIZE', 'SIZE_QUANTILE_LEVELS', 'BoxSizeStats', 'REAL_BOX_STATS',
           'MULTILABEL_PAIR', 'LESIONS_PER_IMAGE_PROBS', 'LesionClasses', 'class_probabilities',
           'sample_box_size', 'check_known_classes']

#: Image size the real annotations (and :data:`REAL_BOX_STATS`) refer to.
REFERENCE_IMAGE_SIZE = 1024

#: Cumulative probabilities at which :attr:`BoxSizeStats.sqrt_area_quantiles` are given.
SIZE_QUANTILE_LEVELS = (0.02, 0.10, 0.25, 0.50, 0.75, 0.90, 0.98)


@dataclass(frozen=True)
class BoxSizeStats:
    """One class's box statistics in the real data, in pixels of a 1024x1024 image."""
    frequency: float  # share of all boxes of the 9 classes
    sqrt_area_quantiles: Tuple[float, ...]  # sqrt(w * h) at SIZE_QUANTILE_LEVELS
    aspect_median: float  # median of h / w
    aspect_log_sigma: float  # standard deviation of log(h / w)
    size_aspect_correlation: float  # corr(log sqrt(w * h), log(h / w)): big ones are taller/wider


#: Derived once from ChestX-Det ``train.json`` (3,025 images; 6,760 boxes of these 9 classes) and
#: frozen here so nothing reads the real annotations at run time. Calcification's lower quantiles
#: sit at 20 px because the annotators' smallest box is 20x20.
REAL_BOX_STATS: Dict[str, BoxSizeStats] = {
    'Consolidation': BoxSizeStats(0.312, (89, 145, 194, 261, 358, 423, 478), 1.41, 0.44, 0.58),
    'Fibrosis': BoxSizeStats(0.092, (40, 64, 111, 194, 330, 400, 468), 1.38, 0.66, 0.65),
    'Effusion': BoxSizeStats(0.257, (52, 79, 131, 244, 328, 411, 479), 1.21, 0.46, 0.16),
    'Nodule': BoxSizeStats(0.121, (20, 25, 32, 45, 66, 90, 134), 1.07, 0.23, 0.09),
    'Mass': BoxSizeStats(0.020, (96, 105, 123, 147, 174, 204, 318), 1.19, 0.26, -0.05),
    'Emphysema': BoxSizeStats(0.034, (317, 377, 405, 443, 481, 521, 568), 2.06, 0.20, 0.19),
    'Calcification': BoxSizeStats(0.042, (20, 20, 20, 28, 39, 68, 111), 1.05, 0.27, 0.24),
    'Atelectasis': BoxSizeStats(0.043, (49, 82, 122, 167, 203, 252, 437), 0.63, 0.62, 0.65),
    'Fracture': BoxSizeStats(0.081, (42, 55, 62, 77, 93, 143, 243), 1.00, 0.52, -0.14),
}

#: The one multi-label case of the real data worth imitating: the same box labelled twice.
MULTILABEL_PAIR = ('Consolidation', 'Effusion')

#: Lesions per positive image (the real data has 1-4 in 88% of positive images; capped here so
#: boxes stay separable in small images).
LESIONS_PER_IMAGE_PROBS = {1: 0.35, 2: 0.30, 3: 0.20, 4: 0.15}

#: A lesion entry: one class name, or a tuple of names sharing one box.
LesionClasses = Union[str, Tuple[str, ...]]


def class_probabilities(classes: Sequence[str] = DEFAULT_CLASSES,
                        min_fraction: float = 0.08) -> np.ndarray:
    """Real class frequencies with a floor, renormalised, so rare classes still get examples."""
    check_known_classes(classes)
    freq = np.array([REAL_BOX_STATS[c].frequency for c in classes], dtype=float)
    freq = freq / freq.sum()
    floor = min(min_fraction, 1.0 / len(classes))
    # Classes below the floor get exactly the floor; the rest share what is left in proportion.
    # Lifting some can push others under, hence the loop (at most one pass per class).
    at_floor = np.zeros(len(classes), bool)
    while not at_floor.all():
        probs = np.where(at_floor, floor,
                         freq * (1.0 - floor * at_floor.sum()) / freq[~at_floor].sum())
        below = (probs < floor) & ~at_floor
        if not below.any():
            return probs
        at_floor |= below
    return np.full(len(classes), 1.0 / len(classes))


def sample_box_size(rng: np.random.Generator, class_name: str,
                    image_size: int = REFERENCE_IMAGE_SIZE) -> Tuple[float, float]:
    """Draw a nominal box ``(w, h)`` in pixels from the class's real distribution, scaled to
    ``image_size``."""
    stats = REAL_BOX_STATS[class_name]
    # Size and aspect share a normal score so their real correlation carries over.
    z_size, z_other = rng.standard_normal(2)
    u = 0.5 * (1.0 + math.erf(z_size / math.sqrt(2.0)))
    levels = np.asarray(SIZE_QUANTILE_LEVELS)
    u = float(np.clip(u, levels[0], levels[-1]))  # no extrapolation beyond the observed range
    log_size = np.interp(u, levels, np.log(stats.sqrt_area_quantiles))
    rho = stats.size_aspect_correlation
    z_aspect = float(np.clip(rho * z_size + math.sqrt(1 - rho * rho) * z_other, -2.0, 2.0))
    log_aspect = math.log(stats.aspect_median) + stats.aspect_log_sigma * z_aspect
    side = math.exp(log_size) * image_size / REFERENCE_IMAGE_SIZE
    w, h = side * math.exp(-log_aspect / 2), side * math.exp(log_aspect / 2)
    # The thorax bounds what can be drawn; 3 px is the smallest lesion that still has a shape.
    w = float(np.clip(w, 3.0, 0.48 * image_size))
    h = float(np.clip(h, 3.0, 0.72 * image_size))
    return w, h


def check_known_classes(classes):
    """``ValueError`` naming the ``classes`` the phantom cannot draw (not in REAL_BOX_STATS)."""
    unknown = [c for c in classes if c not in REAL_BOX_STATS]
    if unknown:
        raise ValueError(f'phantom has no appearance for class(es) {unknown}; '
                         f'known: {sorted(REAL_BOX_STATS)}')
