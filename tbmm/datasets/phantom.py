"""Synthetic "phantom" chest X-rays with boxed lesions of the ChestX-Det classes.

The phantom data set stands in for the real images (not shipped with the repository) in the demo
and in tests: a small detector trained on it for minutes on a CPU must learn something, so every
class has its own distinct appearance, while the box sizes, box counts and class mix follow the
real ChestX-Det training annotations (:data:`REAL_BOX_STATS`).

Layers, from high to low level:

* :func:`make_phantom_dataset` writes the real data set's layout (``annotation/{train,test}.json``
  and ``{train,test}_data/*.png``).
* :func:`sample_phantom_image` makes one image with a given list of lesion classes.
* :func:`sample_thorax`, :func:`sample_lesions` and :func:`render_phantom_image` split that into
  anatomy, lesion placement and drawing, so a test can draw the same image with and without a lesion.

Boxes are tightened around what was actually drawn, so a box never contains empty margins.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.annotations import write_annotations
from tbmm.utils import UserInputError

# --------------------------------------------------------------------------------------------
# Box statistics of the real data
# --------------------------------------------------------------------------------------------

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
    _check_known(classes)
    freq = np.array([REAL_BOX_STATS[c].frequency for c in classes], dtype=float)
    freq = freq / freq.sum()
    floor = min(min_fraction, 1.0 / len(classes))
    # Classes below the floor get exactly the floor; the rest share what is left in proportion.
    # Lifting some can push others under, hence the loop (at most one pass per class).
    at_floor = np.zeros(len(classes), bool)
    while not at_floor.all():
        probs = np.where(at_floor, floor, freq * (1.0 - floor * at_floor.sum()) / freq[~at_floor].sum())
        below = (probs < floor) & ~at_floor
        if not below.any():
            return probs
        at_floor |= below
    return np.full(len(classes), 1.0 / len(classes))


def sample_box_size(rng: np.random.Generator, class_name: str,
                    image_size: int = REFERENCE_IMAGE_SIZE) -> Tuple[float, float]:
    """Draw a nominal box ``(w, h)`` in pixels from the class's real distribution, scaled to size."""
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


def _check_known(classes):
    unknown = [c for c in classes if c not in REAL_BOX_STATS]
    if unknown:
        raise ValueError(f'phantom has no appearance for class(es) {unknown}; '
                         f'known: {sorted(REAL_BOX_STATS)}')


# --------------------------------------------------------------------------------------------
# Anatomy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thorax:
    """Per-image anatomy in pixels; the lesion placement and the background both use it.

    ``side`` -1 is the lung on the image's left (the patient's right), +1 the other one.
    """
    image_size: int
    midline: float  # x of the spine
    apex_y: float  # top of the lung fields
    base_y: float  # bottom of the lung fields (costophrenic angles)
    dome_height: float  # how far the diaphragm domes up above base_y
    mediastinum_half_width: float  # lungs start this far from the midline
    lung_width: float
    body_half_width: float
    left_dome_lift: float  # the image-left (patient's right) hemidiaphragm sits higher

    def lung_x_range(self, side: int) -> Tuple[float, float]:
        """(medial x, lateral x) of one lung."""
        medial = self.midline + side * self.mediastinum_half_width
        return medial, medial + side * self.lung_width


def sample_thorax(rng: np.random.Generator, image_size: int) -> Thorax:
    """Draw one patient's anatomy: position, scale and proportions vary a little per image."""
    s = image_size * rng.uniform(0.92, 1.04)
    top = image_size * rng.uniform(0.09, 0.14)
    return Thorax(
        image_size=image_size,
        midline=image_size * (0.5 + rng.normal(0, 0.012)),
        apex_y=top,
        base_y=min(top + s * rng.uniform(0.64, 0.70), image_size * 0.86),
        dome_height=s * rng.uniform(0.05, 0.09),
        mediastinum_half_width=s * rng.uniform(0.055, 0.075),
        lung_width=s * rng.uniform(0.34, 0.38),
        body_half_width=s * rng.uniform(0.45, 0.48),
        left_dome_lift=s * rng.uniform(0.0, 0.03),
    )


def _soft_step(distance, width):
    """0 → 1 ramp across ``width`` centred on distance 0 (positive = inside)."""
    return np.clip(distance / width + 0.5, 0.0, 1.0)


def _smooth_noise(rng, shape, cells):
    """Zero-mean, unit-ish low-frequency noise: a coarse random grid upsampled smoothly."""
    cells_y = max(2, int(round(cells * shape[0] / max(shape))))
    cells_x = max(2, int(round(cells * shape[1] / max(shape))))
    grid = rng.standard_normal((cells_y, cells_x)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _to_cv_points(points):
    """Float (x, y) pixel-index coordinates → cv2 int points with 4 fractional bits."""
    return np.round(np.asarray(points, dtype=np.float64) * 16).astype(np.int32)


def _polyline(canvas, points, thickness, value):
    cv2.polylines(canvas, [_to_cv_points(points)], False, float(value),
                  thickness=max(1, int(round(thickness))), lineType=cv2.LINE_8, shift=4)


def _render_background(rng: np.random.Generator, thorax: Thorax) -> np.ndarray:
    """Float32 thorax image in [0, 1]-ish at full size (no lesions, no noise)."""
    size = thorax.image_size
    # Everything here is smooth, so it is drawn at most at 512 px and upsampled.
    work = min(size, 512)
    k = work / size  # full-size px → work px
    coords = (np.arange(work, dtype=np.float32) + 0.5) / k  # work pixel centres in full-size px
    xs, ys = coords[None, :], coords[:, None]
    mid = thorax.midline

    # Body: soft tissue, narrowing to the neck above the lung apices.
    neck = np.clip((ys - thorax.apex_y * 0.2) / (thorax.apex_y * 1.2), 0.0, 1.0)
    body_half = thorax.body_half_width * (0.42 + 0.58 * np.sqrt(neck))
    body = _soft_step(body_half - np.abs(xs - mid), 0.02 * size)
    tissue_level = rng.uniform(0.50, 0.60)
    image = 0.05 + body * (tissue_level - 0.05)

    # Lungs: dark fields with a rounded apex and a domed diaphragm; hilar vessels brighter.
    lungs = np.zeros((work, work), np.float32)
    hila = np.zeros((work, work), np.float32)
    height = thorax.base_y - thorax.apex_y
    for side in (-1, 1):
        medial, _ = thorax.lung_x_range(side)
        lat = (xs - medial) * side / thorax.lung_width  # 0 medial → 1 lateral
        depth = (ys - thorax.apex_y) / height  # 0 apex → 1 base
        # Lateral wall bows out from a rounded apex to its widest at the lower third.
        max_lat = np.sin(0.5 * np.pi * np.clip(depth / 0.65, 0.0, 1.0)) ** 0.6
        lat_c = np.clip(lat, 0.0, 1.0)
        lift = thorax.left_dome_lift if side < 0 else 0.0
        diaphragm = (thorax.base_y - lift - thorax.dome_height * np.sin(np.pi * lat_c ** 0.8) -
                     0.25 * thorax.dome_height * (1.0 - lat_c))
        inside = (lat > 0) & (lat < max_lat) & (ys < diaphragm)
        lungs = np.maximum(lungs, inside.astype(np.float32))
        hila += np.exp(-((lat - 0.08) / 0.22) ** 2 - ((depth - 0.45) / 0.22) ** 2)
    lungs = cv2.GaussianBlur(lungs, (0, 0), 0.012 * work)

    heart_cx = mid + size * rng.uniform(0.03, 0.07)
    heart_cy = thorax.base_y - size * rng.uniform(0.13, 0.17)
    heart_ax, heart_ay = size * rng.uniform(0.14, 0.18), size * rng.uniform(0.11, 0.14)
    heart = _soft_step(1.0 - np.sqrt(((xs - heart_cx) / heart_ax) ** 2 +
                                     ((ys - heart_cy) / heart_ay) ** 2), 0.25)
    lung_dark = rng.uniform(0.28, 0.36)
    vessels = 0.5 + 0.5 * _smooth_noise(rng, (work, work), 28)
    image -= lungs * (1.0 - 0.8 * heart) * lung_dark
    image += lungs * (0.06 * hila + 0.025 * vessels)

    # Spine with vertebral bodies, trachea above the heart.
    spine = _soft_step(0.03 * size - np.abs(xs - mid), 0.01 * size)
    vertebra_period = size * rng.uniform(0.045, 0.055)
    image += spine * (0.08 + 0.03 * np.cos(2 * np.pi * ys / vertebra_period)) * (0.4 + 0.6 * neck)
    trachea = _soft_step(0.013 * size - np.abs(xs - mid), 0.008 * size)
    image -= 0.07 * trachea * np.clip((heart_cy - heart_ay - ys) / (0.1 * size), 0.0, 1.0)

    # Ribs: posterior arcs from the spine out and down, fainter anterior ones; bright cortex.
    bones = np.zeros((work, work), np.float32)
    rib_gap = height * rng.uniform(0.105, 0.12)
    rib_thick = size * rng.uniform(0.018, 0.024)
    p = np.linspace(0.0, 1.0, 24)

    def work_px(x, y):  # full-size continuous coordinates → work pixel indices
        return np.stack([x * k - 0.5, y * k - 0.5], 1)

    for side in (-1, 1):
        for i in range(9):
            y0 = thorax.apex_y - 0.3 * rib_gap + i * rib_gap
            reach = thorax.mediastinum_half_width + thorax.lung_width * 1.08
            # Posterior rib: out from the spine, rising slightly, then curving down laterally.
            x = mid + side * (0.03 * size + (reach - 0.03 * size) * np.sin(0.5 * np.pi * p))
            y = y0 - 0.6 * rib_gap * p + 2.4 * rib_gap * p ** 3
            posterior = work_px(x, y)
            _polyline(bones, posterior, rib_thick * k, 1.0)
            _polyline(bones, posterior, 0.45 * rib_thick * k, 0.55)
            # Anterior rib: from the lateral wall down towards the sternum, fainter.
            x = mid + side * (reach - 0.7 * thorax.lung_width * p)
            y = y0 + 1.8 * rib_gap + 1.6 * rib_gap * p
            _polyline(bones, work_px(x, y), 0.8 * rib_thick * k, 0.45)
        # Clavicle.
        x = mid + side * size * np.linspace(0.05, 0.3, 12)
        y = thorax.apex_y + size * (0.01 - 0.06 * np.linspace(0, 1, 12) ** 1.5)
        _polyline(bones, work_px(x, y), 0.028 * size * k, 0.9)
    bones = cv2.GaussianBlur(bones, (0, 0), max(0.6, 0.0025 * work))
    below_lungs = np.clip((ys - thorax.base_y + 0.05 * size) / (0.1 * size), 0.0, 1.0)
    image += rng.uniform(0.09, 0.12) * bones * body * (1.0 - 0.6 * below_lungs)

    # Breast / pectoral soft-tissue shadows over the lower lateral lungs.
    for side in (-1, 1):
        medial, lateral = thorax.lung_x_range(side)
        cx = 0.4 * medial + 0.6 * lateral
        cy = thorax.base_y - 0.12 * size
        shadow = _soft_step(1.0 - np.sqrt(((xs - cx) / (0.2 * size)) ** 2 +
                                          ((ys - cy) / (0.14 * size)) ** 2), 0.3)
        image += rng.uniform(0.0, 0.05) * shadow * body

    image += 0.035 * _smooth_noise(rng, (work, work), 4)
    # Exposure: brightness and contrast vary between radiographs.
    image = rng.uniform(-0.03, 0.03) + rng.uniform(0.9, 1.1) * image
    if work != size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return image.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# Lesions
# --------------------------------------------------------------------------------------------


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


@dataclass
class _Patch:
    """The lesion's neighbourhood: normalised coordinates (box edges at ±1) and pixel helpers."""
    x0: int
    y0: int
    X: np.ndarray  # (ph, pw) normalised x; box spans -1..1
    Y: np.ndarray
    center: Tuple[float, float]  # in patch pixel coordinates (pixel-centre convention)
    half_w: float
    half_h: float
    side: int
    image_size: int

    @property
    def shape(self):
        return self.X.shape

    def to_px(self, xn, yn):
        """Normalised → patch pixel (x, y) coordinates as an (N, 2) array."""
        xn, yn = np.broadcast_arrays(np.asarray(xn, float), np.asarray(yn, float))
        return np.stack([self.center[0] + xn * self.half_w, self.center[1] + yn * self.half_h], -1)

    def canvas(self):
        return np.zeros(self.shape, np.float32)

    def edge(self, px):
        """A width of ``px`` pixels in normalised units of the smaller half-size."""
        return px / max(1.0, min(self.half_w, self.half_h))


@dataclass
class _Paint:
    """What a lesion does to its patch: blend towards ``level`` by ``cover``, then add ``add``."""
    footprint: np.ndarray  # >= 0; the box is tightened to where it is >= 25% of its peak
    add: Optional[np.ndarray] = None
    cover: Optional[np.ndarray] = None
    level: Union[float, np.ndarray] = 0.0


def _lobulated_radius(rng, patch, harmonics, amplitude):
    """r / R(theta): < 1 inside an irregular outline whose widest extent touches the box."""
    theta = np.arctan2(patch.Y, patch.X)
    ks = np.arange(2, 2 + harmonics)
    amps = amplitude * rng.uniform(0.4, 1.0, harmonics) / np.sqrt(ks / 2)
    phases = rng.uniform(0, 2 * np.pi, harmonics)
    probe = np.linspace(0, 2 * np.pi, 128, endpoint=False)
    r_max = 1.0 + (amps[:, None] * np.cos(ks[:, None] * probe + phases[:, None])).sum(0).max()
    outline = 1.0 + sum(a * np.cos(k * theta + ph) for a, k, ph in zip(amps, ks, phases))
    return np.hypot(patch.X, patch.Y) * r_max / outline


def _draw_consolidation(rng, patch):
    # Large, fluffy, patchy airspace opacity with a few dark air bronchograms.
    f = _lobulated_radius(rng, patch, 4, 0.12)
    envelope = np.clip((1.0 - f) / 0.35, 0.0, 1.0) ** 0.8
    cells = max(3, int(round(2 * max(patch.half_w, patch.half_h) / max(8.0, 0.04 * patch.image_size))))
    mottle = np.clip(0.62 + 0.3 * _smooth_noise(rng, patch.shape, cells) +
                     0.12 * _smooth_noise(rng, patch.shape, 2 * cells), 0.15, 1.0)
    bronchi = patch.canvas()
    for _ in range(rng.integers(2, 4)):
        start = np.array([-0.1 * patch.side * rng.uniform(1, 4), rng.uniform(-0.3, 0.3)])
        angle = rng.uniform(-0.5, 0.5) + (np.pi if patch.side < 0 else 0.0)
        end = start + 0.7 * np.array([np.cos(angle), np.sin(angle)])
        _polyline(bronchi, patch.to_px([start[0], end[0]], [start[1], end[1]]),
                  max(1.0, 0.03 * min(patch.half_w, patch.half_h)), 1.0)
    amplitude = rng.uniform(0.26, 0.34)
    return _Paint(footprint=envelope, add=amplitude * envelope * mottle * (1.0 - 0.5 * bronchi))


def _draw_effusion(rng, patch):
    # Homogeneous fluid at the lung base whose meniscus climbs the lateral chest wall.
    lateral = (patch.side * patch.X + 1.0) / 2.0  # 0 medial → 1 lateral
    depth = rng.uniform(0.35, 0.9)
    meniscus = -1.0 + 2.0 * depth * np.clip(1.0 - lateral, 0.0, 1.0) ** 1.6
    upper = np.clip((patch.Y - meniscus) / 0.12, 0.0, 1.0)
    # Thins out medially instead of ending in a vertical edge.
    edges = (np.clip(lateral / 0.35, 0, 1) ** 1.5 * np.clip((1.0 - lateral) / 0.03, 0, 1) *
             np.clip((1.0 - patch.Y) / 0.03, 0, 1))
    cover = rng.uniform(0.8, 0.9) * upper * edges
    level = rng.uniform(0.56, 0.64) + 0.06 * (patch.Y + 1.0) / 2.0  # thicker fluid lower down
    return _Paint(footprint=cover, cover=cover, level=level)


def _draw_nodule(rng, patch):
    # Small round opacity, soft-edged, densest in the middle.
    r = np.hypot(patch.X, patch.Y)
    envelope = np.clip((1.0 - r) / 0.35, 0.0, 1.0)
    body = 0.75 + 0.25 * np.sqrt(np.clip(1.0 - r * r, 0.0, 1.0))
    return _Paint(footprint=envelope, add=rng.uniform(0.22, 0.30) * envelope * body)


def _draw_mass(rng, patch):
    # Larger, lobulated, sharply marginated, homogeneous.
    f = _lobulated_radius(rng, patch, 3, 0.13)
    envelope = np.clip((1.0 - f) / patch.edge(1.5), 0.0, 1.0)
    body = 0.85 + 0.15 * np.sqrt(np.clip(1.0 - f * f, 0.0, 1.0))
    return _Paint(footprint=envelope, add=rng.uniform(0.30, 0.38) * envelope * body)


def _draw_calcification(rng, patch):
    # Very small, very dense dot(s) with hard edges; a cluster when the box has room.
    smallest = min(patch.half_w, patch.half_h)
    count = 1 if smallest < 5 else int(rng.integers(1, 4))
    envelope = patch.canvas()
    if count == 1:
        dots = [(0.0, 0.0, 1.0)]
    else:
        radius = rng.uniform(0.25, 0.4)
        flip = rng.choice([-1.0, 1.0])
        dots = [(-1 + radius, flip * (-1 + radius), radius), (1 - radius, flip * (1 - radius), radius)]
        dots += [(rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), radius * rng.uniform(0.6, 1.0))
                 for _ in range(count - 2)]
    edge = patch.edge(0.8)
    for cx, cy, radius in dots:
        dot = np.clip((radius - np.hypot(patch.X - cx, patch.Y - cy)) / edge, 0.0, 1.0)
        envelope = np.maximum(envelope, dot)
    return _Paint(footprint=envelope, add=rng.uniform(0.55, 0.7) * envelope)


def _draw_fibrosis(rng, patch):
    # Reticular texture: a net of short, slightly bent thin streaks inside an oval, over a faint
    # haze. Streak length is tied to the image, not the box, so big boxes get a denser net.
    envelope = np.clip((1.0 - np.hypot(patch.X, patch.Y)) / 0.25, 0.0, 1.0)
    cell = min(0.05 * patch.image_size, 0.8 * min(patch.half_w, patch.half_h))
    count = int(np.clip(1.3 * np.pi * patch.half_w * patch.half_h / cell ** 2, 8, 160))
    radius = np.sqrt(rng.uniform(0, 1, count))
    angle = rng.uniform(0, 2 * np.pi, count)
    centres = patch.to_px(radius * np.cos(angle), radius * np.sin(angle))  # (count, 2)
    direction = rng.uniform(0, np.pi, count)
    half_length = rng.uniform(0.3, 0.6, count) * cell
    along = np.stack([np.cos(direction), np.sin(direction)], -1) * half_length[:, None]
    bend = rng.normal(0, 0.15, (count, 1)) * np.stack([-along[:, 1], along[:, 0]], -1)
    streaks = np.stack([centres - along, centres + bend, centres + along], 1)
    lines = patch.canvas()
    cv2.polylines(lines, list(_to_cv_points(streaks)), False, 1.0,
                  thickness=max(1, int(round(patch.image_size / 500))), lineType=cv2.LINE_8, shift=4)
    lines = cv2.GaussianBlur(lines, (0, 0), 0.6)
    density = (lines + 0.2) * envelope
    return _Paint(footprint=density, add=rng.uniform(0.24, 0.32) * density - 0.04 * envelope)


def _draw_emphysema(rng, patch):
    # Tall hyperlucent (darker) region with a few thin bulla walls.
    f = (np.abs(patch.X) ** 3 + np.abs(patch.Y) ** 3) ** (1 / 3)
    envelope = np.clip((1.0 - f) / 0.2, 0.0, 1.0)
    walls = patch.canvas()
    for _ in range(rng.integers(2, 6)):
        centre = rng.uniform(-0.6, 0.6, 2)
        radius_px = rng.uniform(0.15, 0.35) * min(patch.half_w, patch.half_h)
        _polyline(walls, patch.to_px(centre[0] + radius_px / patch.half_w * np.cos(_CIRCLE),
                                     centre[1] + radius_px / patch.half_h * np.sin(_CIRCLE)),
                  max(1.0, patch.image_size / 700), 1.0)
    return _Paint(footprint=envelope,
                  add=(-rng.uniform(0.15, 0.2) + 0.12 * walls) * envelope)


_CIRCLE = np.linspace(0, 2 * np.pi, 33)


def _draw_atelectasis(rng, patch):
    # Collapsed lung: a wedge based on the pleura tapering medially, or a plate-like band.
    shape = patch.canvas()
    if rng.uniform() < 0.6:
        apex_y = rng.uniform(-0.4, 0.4)
        corners = patch.to_px([patch.side, patch.side, -patch.side], [-1.0, 1.0, apex_y])
    else:
        thickness = rng.uniform(0.35, 0.6) * 2
        flip = rng.choice([-1.0, 1.0])
        corners = patch.to_px([-1, 1, 1, -1], flip * np.array([-1, 1 - thickness, 1, -1 + thickness]))
    cv2.fillPoly(shape, [_to_cv_points(corners)], 1.0, lineType=cv2.LINE_8, shift=4)
    shape = cv2.GaussianBlur(shape, (0, 0), max(0.7, 0.015 * min(patch.half_w, patch.half_h)))
    texture = 0.88 + 0.12 * _smooth_noise(rng, patch.shape, 4)
    return _Paint(footprint=shape, add=rng.uniform(0.22, 0.3) * shape * texture)


def _draw_fracture(rng, patch):
    # A dense rib segment crossing the box corner to corner, broken in the middle: a dark gap and
    # the far piece stepped sideways.
    thickness = max(2.0, rng.uniform(0.28, 0.38) * 2 * min(patch.half_w, patch.half_h))
    inset_x, inset_y = thickness / (2 * patch.half_w), thickness / (2 * patch.half_h)
    flip = rng.choice([-1.0, 1.0])
    start = patch.to_px(-1 + inset_x, flip * (-1 + inset_y))
    end = patch.to_px(1 - inset_x, flip * (1 - inset_y))
    along = end - start
    length = np.linalg.norm(along) + 1e-6
    normal = np.array([-along[1], along[0]]) / length
    gap = rng.uniform(0.06, 0.12)  # half-width of the break, as a fraction of the length
    step = rng.uniform(0.2, 0.45) * thickness
    pieces = [start + np.linspace(0.0, 0.5 - gap, 2)[:, None] * along,
              start + np.linspace(0.5 + gap, 1.0, 2)[:, None] * along + step * normal]
    band, cortex, dark = patch.canvas(), patch.canvas(), patch.canvas()
    for piece in pieces:
        _polyline(band, piece, thickness, 1.0)
        # Bright rim, fainter marrow, like cortical bone.
        _polyline(cortex, piece, thickness, 1.0)
        _polyline(cortex, piece, 0.45 * thickness, 0.55)
    middle = start + 0.5 * along
    _polyline(dark, np.stack([middle - 0.7 * thickness * normal, middle + 0.7 * thickness * normal]),
              max(1.0, 0.3 * gap * length), 1.0)
    blur = max(0.5, 0.04 * thickness)
    band = cv2.GaussianBlur(band, (0, 0), blur)
    cortex = cv2.GaussianBlur(cortex, (0, 0), blur)
    dark = cv2.GaussianBlur(dark, (0, 0), blur) * (1.0 - band)
    return _Paint(footprint=band, add=rng.uniform(0.3, 0.38) * cortex - 0.08 * dark)


_DRAWERS = {
    'Consolidation': _draw_consolidation,
    'Fibrosis': _draw_fibrosis,
    'Effusion': _draw_effusion,
    'Nodule': _draw_nodule,
    'Mass': _draw_mass,
    'Emphysema': _draw_emphysema,
    'Calcification': _draw_calcification,
    'Atelectasis': _draw_atelectasis,
    'Fracture': _draw_fracture,
}

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
        _check_known(syms)
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


# Soft edges and irregular outlines leave a drawing's tight box smaller than the box it was drawn
# in; these (x, y) factors, measured over a few hundred lesions, enlarge the drawing so that the
# tight boxes, not the nominal ones, follow REAL_BOX_STATS.
_DRAWING_SCALE = {
    'Consolidation': (1.19, 1.18), 'Fibrosis': (1.13, 1.12), 'Effusion': (1.17, 1.02),
    'Nodule': (1.09, 1.10), 'Mass': (1.15, 1.12), 'Emphysema': (1.05, 1.05),
    'Calcification': (1.03, 1.03), 'Atelectasis': (0.99, 0.99), 'Fracture': (0.96, 1.0),
}


def _make_patch(spec: LesionSpec, image_size: int) -> Optional[_Patch]:
    scale_x, scale_y = _DRAWING_SCALE[spec.syms[0]]
    half_w, half_h = scale_x * spec.size[0] / 2, scale_y * spec.size[1] / 2
    pad_x, pad_y = 0.2 * half_w + 3, 0.2 * half_h + 3  # room for soft edges beyond the box
    cx, cy = spec.center
    x0 = max(0, int(math.floor(cx - half_w - pad_x)))
    x1 = min(image_size, int(math.ceil(cx + half_w + pad_x)))
    y0 = max(0, int(math.floor(cy - half_h - pad_y)))
    y1 = min(image_size, int(math.ceil(cy + half_h + pad_y)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    # Pixel j's centre is at x0 + j + 0.5 in image coordinates.
    px = np.arange(x1 - x0, dtype=np.float32) + x0 + 0.5
    py = np.arange(y1 - y0, dtype=np.float32) + y0 + 0.5
    X = np.broadcast_to(((px - cx) / half_w)[None, :], (y1 - y0, x1 - x0))
    Y = np.broadcast_to(((py - cy) / half_h)[:, None], (y1 - y0, x1 - x0))
    return _Patch(x0=x0, y0=y0, X=X, Y=Y, center=(cx - x0 - 0.5, cy - y0 - 0.5),
                  half_w=half_w, half_h=half_h, side=spec.side, image_size=image_size)


def _draw_lesion(rng, image, spec: LesionSpec):
    """Draw one lesion into ``image`` (float32, in place); return its tight box or None."""
    patch = _make_patch(spec, image.shape[0])
    if patch is None:
        return None
    ph, pw = patch.shape
    view = image[patch.y0:patch.y0 + ph, patch.x0:patch.x0 + pw]
    footprint = np.zeros((ph, pw), np.float32)
    # Effusion first so a consolidation sharing its box stays visible on top of the fluid.
    for name in sorted(spec.syms, key=lambda n: n != 'Effusion'):
        paint = _DRAWERS[name](rng, patch)
        if paint.cover is not None:
            view += paint.cover * (paint.level - view)
        if paint.add is not None:
            view += paint.add
        footprint = np.maximum(footprint, paint.footprint)
    peak = float(footprint.max())
    if peak <= 0:
        return None
    rows = np.flatnonzero((footprint >= 0.25 * peak).any(axis=1))
    cols = np.flatnonzero((footprint >= 0.25 * peak).any(axis=0))
    return [patch.x0 + int(cols[0]), patch.y0 + int(rows[0]),
            patch.x0 + int(cols[-1]) + 1, patch.y0 + int(rows[-1]) + 1]


@dataclass
class PhantomImage:
    """One rendered image (uint8, HxW) with its annotation (boxes as int [x1, y1, x2, y2])."""
    image: np.ndarray
    syms: List[str] = field(default_factory=list)
    boxes: List[List[int]] = field(default_factory=list)

    def to_record(self, file_name: str) -> dict:
        return {'file_name': file_name, 'syms': list(self.syms), 'boxes': [list(b) for b in self.boxes]}


def render_phantom_image(rng: np.random.Generator, image_size: int,
                         lesions: Sequence[LesionSpec] = (),
                         thorax: Optional[Thorax] = None) -> PhantomImage:
    """Draw a thorax (sampled from ``rng`` unless given), the lesions, and detector noise.

    Background, lesions and noise use separate streams split off ``rng`` first, so the same
    ``rng`` state with and without a lesion gives identical pixels outside the lesion.
    """
    background_rng, lesion_rng, noise_rng = (np.random.default_rng(s) for s in
                                             rng.integers(0, 2**63, size=3))
    if thorax is None:
        thorax = sample_thorax(background_rng, image_size)
    elif thorax.image_size != image_size:
        raise ValueError(f'thorax was sampled for {thorax.image_size} px, not {image_size}')
    image = _render_background(background_rng, thorax)
    syms, boxes = [], []
    for spec in lesions:
        box = _draw_lesion(lesion_rng, image, spec)
        if box is None:
            continue
        for name in spec.syms:
            syms.append(name)
            boxes.append(list(box))
    noise_level = noise_rng.uniform(0.012, 0.022)
    image += noise_level * noise_rng.standard_normal(image.shape, dtype=np.float32)
    pixels = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return PhantomImage(image=pixels, syms=syms, boxes=boxes)


def sample_phantom_image(rng: np.random.Generator, image_size: int,
                         lesion_classes: Sequence[LesionClasses] = ()) -> PhantomImage:
    """One image: a random thorax with these lesions (empty → a negative image)."""
    thorax = sample_thorax(rng, image_size)
    lesions = sample_lesions(rng, thorax, lesion_classes)
    return render_phantom_image(rng, image_size, lesions, thorax)


# --------------------------------------------------------------------------------------------
# Data set
# --------------------------------------------------------------------------------------------


@dataclass
class PhantomDataset:
    """Where :func:`make_phantom_dataset` wrote what."""
    root: str
    train_ann_file: str
    train_img_dir: str
    test_ann_file: str
    test_img_dir: str
    num_train: int
    num_test: int
    box_counts: Dict[str, Dict[str, int]]  # split → class → number of boxes


def _allocate(total, probs):
    """Largest-remainder integer split of ``total`` by ``probs``."""
    exact = np.asarray(probs, float) * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind='stable')[:total - counts.sum()]:
        counts[i] += 1
    return counts


def plan_split(rng: np.random.Generator, num_images: int, classes: Sequence[str] = DEFAULT_CLASSES,
               negative_fraction: float = 0.2, multilabel_fraction: float = 0.1,
               min_class_fraction: float = 0.08,
               lesions_per_image: Optional[dict] = None) -> List[List[LesionClasses]]:
    """Lesion classes per image: exact negative and multi-label counts, every class represented.

    Each positive image's first lesion comes from a shuffled deck holding the classes in
    proportion to :func:`class_probabilities`, so even a small split has all of them.
    """
    probs = class_probabilities(classes, min_class_fraction)
    num_negative = int(round(num_images * negative_fraction))
    num_positive = num_images - num_negative
    order = rng.permutation(num_images)
    positive = order[:num_positive]
    can_pair = all(c in classes for c in MULTILABEL_PAIR)
    num_multilabel = int(round(num_positive * multilabel_fraction)) if can_pair else 0
    multilabel = set(rng.permutation(positive)[:num_multilabel].tolist())

    deck = np.repeat(np.arange(len(classes)), _allocate(num_positive, probs))
    deck = rng.permutation(deck)
    lesions_per_image = lesions_per_image or LESIONS_PER_IMAGE_PROBS
    counts = [int(n) for n in lesions_per_image]
    count_probs = np.asarray(list(lesions_per_image.values()), dtype=float)
    if min(counts) < 1 or (count_probs < 0).any() or count_probs.sum() <= 0:
        raise ValueError(f'lesions_per_image must map counts >= 1 to probabilities, '
                         f'got {lesions_per_image}')
    count_probs = count_probs / count_probs.sum()
    plan: List[List[LesionClasses]] = [[] for _ in range(num_images)]
    for first, index in zip(deck, sorted(positive.tolist())):
        num_lesions = int(rng.choice(counts, p=count_probs))
        lesions: List[LesionClasses] = [classes[first]]
        lesions += [classes[i] for i in rng.choice(len(classes), size=num_lesions - 1, p=probs)]
        if index in multilabel:
            lesions = [MULTILABEL_PAIR] + lesions[:3]
        plan[index] = lesions
    return plan


#: What :func:`make_phantom_dataset` writes into its folder: its arguments, and the mark that the
#: folder's images are a phantom set's (which a new set may replace).
PHANTOM_PARAMS_FILE = 'phantom_params.json'


class PhantomFolderError(UserInputError):
    """A folder the phantom set must not be written into (its images may be real data)."""


def make_phantom_dataset(out_root, num_train: int = 300, num_test: int = 60,
                         image_size: int = REFERENCE_IMAGE_SIZE, seed: int = 0,
                         negative_fraction: float = 0.2, multilabel_fraction: float = 0.1,
                         classes: Sequence[str] = DEFAULT_CLASSES,
                         min_class_fraction: float = 0.08,
                         lesions_per_image: Optional[dict] = None) -> PhantomDataset:
    """Write a phantom data set in the real layout and return where it went.

    ``out_root/annotation/{train,test}.json`` and ``out_root/{train,test}_data/NNNNN.png``; test
    file names continue the train numbering. Same arguments → byte-identical files. Train and test
    draw from separate random streams, and every image from its own, derived from ``seed``.

    ``min_class_fraction`` floors each class's share of lesions (1/len(classes) balances them);
    ``lesions_per_image`` maps a lesion count to its probability for positive images (default
    :data:`LESIONS_PER_IMAGE_PROBS`, close to the real data).

    The arguments go to ``out_root/phantom_params.json``. A folder that has one holds an earlier
    phantom set, whose images are removed first (a smaller set leaves none behind); a folder whose
    image folders hold files without it is refused (:class:`PhantomFolderError`): it may be real
    data.
    """
    classes = tuple(classes)
    _check_known(classes)
    if image_size < 64:
        raise ValueError(f'image_size must be at least 64, got {image_size}')
    if num_train < 0 or num_test < 0:
        raise ValueError(f'image counts must not be negative, got {num_train} / {num_test}')
    for name, value in (('negative_fraction', negative_fraction),
                        ('multilabel_fraction', multilabel_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'{name} must be within [0, 1], got {value}')
    out_root = os.fspath(out_root)
    params = dict(num_train=num_train, num_test=num_test, image_size=image_size, seed=seed,
                  negative_fraction=negative_fraction, multilabel_fraction=multilabel_fraction,
                  classes=list(classes), min_class_fraction=min_class_fraction,
                  lesions_per_image=lesions_per_image)
    _clear_earlier_phantom(out_root)
    result = dict(root=out_root, num_train=num_train, num_test=num_test, box_counts={})
    first_index = 0
    for split_id, (split, num_images) in enumerate((('train', num_train), ('test', num_test))):
        img_dir = osp.join(out_root, f'{split}_data')
        ann_file = osp.join(out_root, 'annotation', f'{split}.json')
        os.makedirs(img_dir, exist_ok=True)
        plan = plan_split(np.random.default_rng([seed, split_id]), num_images, classes,
                          negative_fraction, multilabel_fraction, min_class_fraction,
                          lesions_per_image)
        records, box_counts = [], Counter()
        for i, lesion_classes in enumerate(plan):
            phantom = sample_phantom_image(np.random.default_rng([seed, split_id, i]), image_size,
                                           lesion_classes)
            file_name = f'{first_index + i:05d}.png'
            if not cv2.imwrite(osp.join(img_dir, file_name), phantom.image):
                raise OSError(f'could not write {osp.join(img_dir, file_name)}')
            records.append(phantom.to_record(file_name))
            box_counts.update(phantom.syms)
        write_annotations(ann_file, records)
        first_index += num_images
        result[f'{split}_ann_file'] = ann_file
        result[f'{split}_img_dir'] = img_dir
        result['box_counts'][split] = {c: box_counts.get(c, 0) for c in classes}
    with open(osp.join(out_root, PHANTOM_PARAMS_FILE), 'w', encoding='utf-8') as f:
        json.dump(params, f)
    return PhantomDataset(**result)


def _clear_earlier_phantom(out_root):
    """Remove an earlier phantom set's images from ``out_root``; refuse a folder of other images."""
    image_dirs = [osp.join(out_root, f'{split}_data') for split in ('train', 'test')]
    present = [osp.join(d, name) for d in image_dirs if osp.isdir(d) for name in os.listdir(d)]
    if not present:
        return
    if not osp.isfile(osp.join(out_root, PHANTOM_PARAMS_FILE)):
        raise PhantomFolderError(
            f'{out_root}: its image folders hold {len(present)} file(s) but no '
            f'{PHANTOM_PARAMS_FILE}, so they are not a phantom set and may be real data; write the '
            f'phantom to an empty or new folder')
    for path in present:
        if path.endswith('.png') and osp.isfile(path):
            os.remove(path)
