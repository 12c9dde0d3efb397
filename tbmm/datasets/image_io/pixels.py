"""Pixels to ``uint8`` gray: colour to luma, more than 8 bits stretched from the value range,
1 or 3 identical channels."""
import cv2
import numpy as np

from tbmm.datasets.image_io.formats import ImageReadError

__all__ = ['to_uint8', 'raster_to_gray', 'colour_to_gray', 'bit_depth_to_uint8', 'with_channels',
           'check_channels']


def to_uint8(values, low=None, high=None):
    """Map ``values`` linearly from ``[low, high]`` (default: their min and max) to ``uint8``.

    Values outside the range saturate; an empty range (constant image) maps to zeros.
    """
    values = np.asarray(values)
    if values.size == 0:
        return np.zeros(values.shape, np.uint8)
    low = float(values.min()) if low is None else float(low)
    high = float(values.max()) if high is None else float(high)
    if not high > low:
        return np.zeros(values.shape, np.uint8)
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    np.clip(scaled, 0, 255, out=scaled)
    scaled += 0.5
    return scaled.astype(np.uint8)


def raster_to_gray(decoded, name):
    """OpenCV's IMREAD_UNCHANGED output (gray, BGR, BGRA; any depth) -> uint8 gray."""
    return bit_depth_to_uint8(colour_to_gray(decoded, 'BGR', name))


def colour_to_gray(pixels, order, name):
    """Gray (any depth) from gray, gray+alpha, colour or colour+alpha pixels in ``order``."""
    if pixels.ndim == 2:
        return pixels
    n_channels = pixels.shape[2]
    if n_channels == 1:
        return pixels[..., 0]
    if n_channels == 2:  # gray + alpha
        return np.ascontiguousarray(pixels[..., 0])
    if pixels.dtype not in (np.uint8, np.uint16, np.float32):  # cvtColor supports only these depths
        pixels = pixels.astype(np.float32)
    if n_channels == 3:
        code = cv2.COLOR_BGR2GRAY if order == 'BGR' else cv2.COLOR_RGB2GRAY
    elif n_channels == 4:
        code = cv2.COLOR_BGRA2GRAY if order == 'BGR' else cv2.COLOR_RGBA2GRAY
    else:
        raise ImageReadError(name, f'unsupported number of channels: {n_channels}')
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def bit_depth_to_uint8(gray):
    """``gray`` as is when 8-bit, else stretched from its value range (:func:`to_uint8`)."""
    return gray if gray.dtype == np.uint8 else to_uint8(gray)


def with_channels(gray, channels):
    """``gray`` as ``H x W`` (``channels`` 1) or ``H x W x 3`` with identical channels."""
    return gray if channels == 1 else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def check_channels(channels):
    """``ValueError`` unless ``channels`` is 1 or 3."""
    if channels not in (1, 3):
        raise ValueError(f'channels must be 1 or 3, got {channels!r}')
