"""The readers: a file or its bytes to ``uint8`` gray pixels (:func:`read_xray`,
:func:`decode_xray`), and its header facts without decoding (:func:`read_xray_info`)."""
import io
import os

import cv2
import numpy as np

from tbmm.datasets.image_io.dicom import dicom_info, dicom_to_gray
from tbmm.datasets.image_io.formats import (
    DICOM_MAGIC,
    DICOM_PREAMBLE_LENGTH,
    JPEG_SIGNATURE,
    JPEG_TAIL_WINDOW,
    PNG_SIGNATURE,
    ImageReadError,
    XRayInfo,
    check_jpeg_complete,
    has_dicom_magic,
    is_dicom,
    jpeg_info,
    png_info,
    read_head,
    read_tail,
    sniff_format,
    undecodable_reason,
)
from tbmm.datasets.image_io.pixels import check_channels, raster_to_gray, with_channels

__all__ = ['read_xray', 'decode_xray', 'read_xray_info']


def read_xray(path, channels=3):
    """Read a PNG/JPEG/DICOM X-ray as ``uint8`` gray pixels.

    Args:
        path: a local file path.
        channels: 3 (default) for ``H x W x 3`` with identical channels, 1 for ``H x W``.

    Raises:
        ImageReadError: the file is missing, empty, truncated or not a decodable image.
        MissingExtraError (an ImportError): the file is DICOM and pydicom is not installed.
    """
    check_channels(channels)
    path = os.fspath(path)
    head = read_head(path)
    if is_dicom(head, path):
        gray = dicom_to_gray(path, path, force=not has_dicom_magic(head))
    else:
        decoded = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise ImageReadError(path, undecodable_reason(head))
        if head.startswith(JPEG_SIGNATURE):
            check_jpeg_complete(path, read_tail(path))
        gray = raster_to_gray(decoded, path)
    return with_channels(gray, channels)


def decode_xray(data, channels=3, name='<bytes>'):
    """Like :func:`read_xray` for the bytes of a file (e.g. fetched from a remote storage backend).

    ``name`` is used in error messages and, through its suffix, to recognise DICOM without a
    preamble.
    """
    check_channels(channels)
    data = bytes(data)
    if not data:
        raise ImageReadError(name, 'empty file (0 bytes)')
    head = data[:DICOM_PREAMBLE_LENGTH + len(DICOM_MAGIC)]
    if is_dicom(head, name):
        gray = dicom_to_gray(io.BytesIO(data), name, force=not has_dicom_magic(head))
    else:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise ImageReadError(name, undecodable_reason(head))
        if head.startswith(JPEG_SIGNATURE):
            check_jpeg_complete(name, data[-JPEG_TAIL_WINDOW:])
        gray = raster_to_gray(decoded, name)
    return with_channels(gray, channels)


def read_xray_info(path):
    """Return an :class:`XRayInfo` from the file header, without decoding the pixels.

    PNG, JPEG and DICOM headers are parsed directly (DICOM through pydicom, stopping before the
    pixel data); other formats fall back to a full decode. Meant for fast data validation, e.g.
    checking that annotation boxes lie inside their image.
    """
    path = os.fspath(path)
    head = read_head(path)
    if is_dicom(head, path):
        return dicom_info(path, force=not has_dicom_magic(head))
    try:
        if head.startswith(PNG_SIGNATURE):
            return png_info(path, head)
        if head.startswith(JPEG_SIGNATURE):
            with open(path, 'rb') as f:
                return jpeg_info(path, f)
    except OSError as e:
        raise ImageReadError(path, f'cannot read ({e.strerror or e})') from e
    decoded = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageReadError(path, undecodable_reason(head))
    height, width = decoded.shape[:2]
    return XRayInfo(width, height, sniff_format(head), decoded.dtype.itemsize * 8)
