"""Small drawing helpers shared by the phantom's anatomy and lesions (float32 canvases)."""
import cv2
import numpy as np

__all__ = ['polyline', 'smooth_noise', 'soft_step', 'to_cv_points']


def soft_step(distance, width):
    """0 → 1 ramp across ``width`` centred on distance 0 (positive = inside)."""
    return np.clip(distance / width + 0.5, 0.0, 1.0)


def smooth_noise(rng, shape, cells):
    """Zero-mean, unit-ish low-frequency noise: a coarse random grid upsampled smoothly."""
    cells_y = max(2, int(round(cells * shape[0] / max(shape))))
    cells_x = max(2, int(round(cells * shape[1] / max(shape))))
    grid = rng.standard_normal((cells_y, cells_x)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def to_cv_points(points):
    """Float (x, y) pixel-index coordinates → cv2 int points with 4 fractional bits."""
    return np.round(np.asarray(points, dtype=np.float64) * 16).astype(np.int32)


def polyline(canvas, points, thickness, value):
    """Draw an open polyline through float (x, y) ``points`` into ``canvas`` (in place)."""
    cv2.polylines(canvas, [to_cv_points(points)], False, float(value),
                  thickness=max(1, int(round(thickness))), lineType=cv2.LINE_8, shift=4)
