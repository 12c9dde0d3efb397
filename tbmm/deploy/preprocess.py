"""An X-ray to the network's input as the config's test pipeline and data preprocessor make it.

* Resize (mmdet's ``Resize`` through mmcv's ``imrescale``/``imresize``, OpenCV bilinear): with
  ``keep_ratio`` the image is scaled by ``min(long_max / long_side, short_max / short_side)`` of
  the target ``scale`` (the new size rounded half up), else to ``scale`` exactly; the scale factor
  is ``(new_w / w, new_h / h)``.
* Normalise (``DetDataPreprocessor``): per input channel ``(pixel - mean) / std`` in float32; a gray
  image is the same in every channel, so ``bgr_to_rgb`` changes nothing but the order of ``mean``
  and ``std``, which the metadata holds in the network's order.
* Pad (MMEngine's ``stack_batch``): every image of a batch at the top left of a canvas as large as
  the largest, rounded up to ``pad_size_divisor``, filled with ``pad_value`` after normalisation.
"""
import math

import cv2
import numpy as np

_INTERPOLATIONS = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR,
                   'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA,
                   'lanczos': cv2.INTER_LANCZOS4}


def resized_size(width, height, scale, keep_ratio=True):
    """``(new_width, new_height)`` of a ``width x height`` image resized to ``scale``."""
    if not keep_ratio:
        return int(scale[0]), int(scale[1])
    factor = min(max(scale) / max(width, height), min(scale) / min(width, height))
    return int(width * float(factor) + 0.5), int(height * float(factor) + 0.5)


def resize_image(gray, resize):
    """Resize an ``H x W`` (or ``H x W x C``) ``uint8`` image as the ``resize`` metadata says.

    Returns ``(resized, (w_scale, h_scale))``.
    """
    height, width = gray.shape[:2]
    new_width, new_height = resized_size(width, height, resize['scale'],
                                         resize.get('keep_ratio', True))
    interpolation = _INTERPOLATIONS[resize.get('interpolation', 'bilinear')]
    resized = cv2.resize(gray, (new_width, new_height), interpolation=interpolation)
    return resized, (new_width / width, new_height / height)


def normalise(gray, mean, std):
    """``(C, H, W)`` float32 network input of an ``H x W`` gray ``uint8`` image, one channel per
    ``mean``/``std`` entry."""
    pixels = gray.astype(np.float32)
    mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(std, np.float32).reshape(-1, 1, 1)
    return (pixels[None, :, :] - mean) / std


def pad_batch(images, size_divisor=1, pad_value=0.0):
    """Stack ``(C, H, W)`` arrays into ``(N, C, H_max, W_max)``, both rounded up to
    ``size_divisor``, each image at the top left."""
    height = max(image.shape[1] for image in images)
    width = max(image.shape[2] for image in images)
    if size_divisor and size_divisor > 1:
        height = int(math.ceil(height / size_divisor)) * size_divisor
        width = int(math.ceil(width / size_divisor)) * size_divisor
    batch = np.full((len(images), images[0].shape[0], height, width), pad_value, np.float32)
    for i, image in enumerate(images):
        batch[i, :, :image.shape[1], :image.shape[2]] = image
    return batch


def prepare_image(gray, preprocess):
    """Resize and normalise one gray image as the ``tbmm.preprocess`` metadata says.

    Returns ``(input (C, h, w) float32, (h, w) resized shape, (w_scale, h_scale))``.
    """
    if gray.ndim == 3:  # replicated gray: any channel will do
        gray = gray[..., 0]
    resized, scale_factor = resize_image(gray, preprocess['resize'])
    return normalise(resized, preprocess['mean'], preprocess['std']), resized.shape[:2], \
        scale_factor
