"""The phantom's anatomy: one patient's thorax geometry (:class:`Thorax`) and its lesion-free
radiograph (:func:`render_background`: body, lungs, heart, spine, ribs, soft-tissue shadows)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from tbmm.datasets.phantom.drawing import polyline, smooth_noise, soft_step

__all__ = ['Thorax', 'sample_thorax', 'render_background']


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


def render_background(rng: np.random.Generator, thorax: Thorax) -> np.ndarray:
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
    body = soft_step(body_half - np.abs(xs - mid), 0.02 * size)
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
    heart = soft_step(1.0 - np.sqrt(((xs - heart_cx) / heart_ax) ** 2 +
                                     ((ys - heart_cy) / heart_ay) ** 2), 0.25)
    lung_dark = rng.uniform(0.28, 0.36)
    vessels = 0.5 + 0.5 * smooth_noise(rng, (work, work), 28)
    image -= lungs * (1.0 - 0.8 * heart) * lung_dark
    image += lungs * (0.06 * hila + 0.025 * vessels)

    # Spine with vertebral bodies, trachea above the heart.
    spine = soft_step(0.03 * size - np.abs(xs - mid), 0.01 * size)
    vertebra_period = size * rng.uniform(0.045, 0.055)
    image += spine * (0.08 + 0.03 * np.cos(2 * np.pi * ys / vertebra_period)) * (0.4 + 0.6 * neck)
    trachea = soft_step(0.013 * size - np.abs(xs - mid), 0.008 * size)
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
            polyline(bones, posterior, rib_thick * k, 1.0)
            polyline(bones, posterior, 0.45 * rib_thick * k, 0.55)
            # Anterior rib: from the lateral wall down towards the sternum, fainter.
            x = mid + side * (reach - 0.7 * thorax.lung_width * p)
            y = y0 + 1.8 * rib_gap + 1.6 * rib_gap * p
            polyline(bones, work_px(x, y), 0.8 * rib_thick * k, 0.45)
        # Clavicle.
        x = mid + side * size * np.linspace(0.05, 0.3, 12)
        y = thorax.apex_y + size * (0.01 - 0.06 * np.linspace(0, 1, 12) ** 1.5)
        polyline(bones, work_px(x, y), 0.028 * size * k, 0.9)
    bones = cv2.GaussianBlur(bones, (0, 0), max(0.6, 0.0025 * work))
    below_lungs = np.clip((ys - thorax.base_y + 0.05 * size) / (0.1 * size), 0.0, 1.0)
    image += rng.uniform(0.09, 0.12) * bones * body * (1.0 - 0.6 * below_lungs)

    # Breast / pectoral soft-tissue shadows over the lower lateral lungs.
    for side in (-1, 1):
        medial, lateral = thorax.lung_x_range(side)
        cx = 0.4 * medial + 0.6 * lateral
        cy = thorax.base_y - 0.12 * size
        shadow = soft_step(1.0 - np.sqrt(((xs - cx) / (0.2 * size)) ** 2 +
                                          ((ys - cy) / (0.14 * size)) ** 2), 0.3)
        image += rng.uniform(0.0, 0.05) * shadow * body

    image += 0.035 * smooth_noise(rng, (work, work), 4)
    # Exposure: brightness and contrast vary between radiographs.
    image = rng.uniform(-0.03, 0.03) + rng.uniform(0.9, 1.1) * image
    if work != size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return image.astype(np.float32, copy=False)
