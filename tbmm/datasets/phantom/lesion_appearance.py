"""How each class of lesion looks in the phantom: one drawer per class paints into the lesion's
neighbourhood, and :func:`draw_lesion` returns the box tightened around what was drawn."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import cv2
import numpy as np

from tbmm.datasets.phantom.drawing import polyline, smooth_noise, to_cv_points
from tbmm.datasets.phantom.lesions import LesionSpec

__all__ = ['draw_lesion']


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
    cells = max(3, int(round(2 * max(patch.half_w, patch.half_h) /
                             max(8.0, 0.04 * patch.image_size))))
    mottle = np.clip(0.62 + 0.3 * smooth_noise(rng, patch.shape, cells) +
                     0.12 * smooth_noise(rng, patch.shape, 2 * cells), 0.15, 1.0)
    bronchi = patch.canvas()
    for _ in range(rng.integers(2, 4)):
        start = np.array([-0.1 * patch.side * rng.uniform(1, 4), rng.uniform(-0.3, 0.3)])
        angle = rng.uniform(-0.5, 0.5) + (np.pi if patch.side < 0 else 0.0)
        end = start + 0.7 * np.array([np.cos(angle), np.sin(angle)])
        polyline(bronchi, patch.to_px([start[0], end[0]], [start[1], end[1]]),
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
        dots = [(-1 + radius, flip * (-1 + radius), radius),
                (1 - radius, flip * (1 - radius), radius)]
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
    cv2.polylines(lines, list(to_cv_points(streaks)), False, 1.0,
                  thickness=max(1, int(round(patch.image_size / 500))), lineType=cv2.LINE_8,
                  shift=4)
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
        polyline(walls, patch.to_px(centre[0] + radius_px / patch.half_w * np.cos(_CIRCLE),
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
        corners = patch.to_px([-1, 1, 1, -1],
                              flip * np.array([-1, 1 - thickness, 1, -1 + thickness]))
    cv2.fillPoly(shape, [to_cv_points(corners)], 1.0, lineType=cv2.LINE_8, shift=4)
    shape = cv2.GaussianBlur(shape, (0, 0), max(0.7, 0.015 * min(patch.half_w, patch.half_h)))
    texture = 0.88 + 0.12 * smooth_noise(rng, patch.shape, 4)
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
        polyline(band, piece, thickness, 1.0)
        # Bright rim, fainter marrow, like cortical bone.
        polyline(cortex, piece, thickness, 1.0)
        polyline(cortex, piece, 0.45 * thickness, 0.55)
    middle = start + 0.5 * along
    polyline(dark, np.stack([middle - 0.7 * thickness * normal, middle + 0.7 * thickness * normal]),
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


def draw_lesion(rng, image, spec: LesionSpec):
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
