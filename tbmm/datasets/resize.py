"""Downscale a data set's images and boxes together (e.g. 1024-pixel X-rays to 512-pixel copies).

Each image is area-averaged (``cv2.INTER_AREA``) so that its longer side becomes ``size``: a
square image becomes ``size`` x ``size``, another keeps its aspect ratio (each side
``round(side * size / max(h, w))``). The pixels are written as stored, only resized: bit depth
(8 or 16 bits) and channels (gray, BGR, BGRA) are kept, nothing is mapped to 8-bit gray. Boxes
(and ChestX-Det polygons) are scaled by the same factors as the pixels, per axis
(``new_width / width``, ``new_height / height``).

Light: OpenCV and numpy, no torch, mmdet or mmengine.
"""
import os
import os.path as osp

import cv2
import numpy as np

from tbmm.datasets.annotations import read_annotations, write_annotations
from tbmm.datasets.convert.common import ConversionError, ConversionReport, check_box, round_box
from tbmm.datasets.image_io import ImageReadError
from tbmm.datasets.image_io.formats import check_jpeg_complete, is_dicom, undecodable_reason
from tbmm.errors import UserInputError


def _inside(path, folder):
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def read_raw_image(path):
    """The pixels of a raster image file as stored (``cv2.IMREAD_UNCHANGED``).

    Raises :class:`ImageReadError` (one line naming the file) for a missing, unreadable,
    truncated or undecodable file, and for DICOM, whose stored values are not a PNG's pixels.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise ImageReadError(path, 'no such file' if not osp.exists(path) else 'not a file')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise ImageReadError(path, f'cannot open ({e.strerror or e})') from e
    if not data:
        raise ImageReadError(path, 'empty file (0 bytes)')
    if is_dicom(data[:132], path):
        raise ImageReadError(path, 'DICOM is not resized here (its stored values are not PNG '
                             'pixels): convert it to PNG first')
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageReadError(path, undecodable_reason(data[:132]))
    if data.startswith(b'\xff\xd8\xff'):
        check_jpeg_complete(path, data[-1024:])
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(path, f'{pixels.dtype} pixels cannot be written as PNG (8 or 16 '
                             'bits only)')
    return pixels


def resize_image(pixels, size):
    """``(resized, (fx, fy))``: ``pixels`` area-downscaled so that the longer side is ``size``,
    and the factors that map coordinates onto the result. Never upscales (ValueError)."""
    height, width = pixels.shape[:2]
    if max(height, width) < size:
        raise ValueError(f'{width}x{height}, smaller than {size}: not upscaled')
    scale = size / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    if (new_width, new_height) == (width, height):
        return pixels.copy(), (1.0, 1.0)
    resized = cv2.resize(pixels, (new_width, new_height), interpolation=cv2.INTER_AREA)
    return resized, (new_width / width, new_height / height)


def _scale_polygons(polygons, fx, fy, decimals, ann_path, where):
    try:
        return [[round_box([x * fx, y * fy], decimals) for x, y in polygon]
                for polygon in polygons]
    except (TypeError, ValueError):
        raise ConversionError(ann_path, '"polygons" must be lists of [x, y] points to be scaled',
                              where) from None


def resize_dataset(ann_path, img_dir, size, out_dir, skip_missing=False, decimals=2):
    """Write ``out_dir/images/<file_name>`` (PNG) and ``out_dir/<ann basename>``; return
    ``(report, annotation path)``, the report a :class:`~tbmm.datasets.convert.ConversionReport`
    of the written records.

    Images not PNG are written as PNG with the suffix changed to ``.png`` in ``file_name``
    (counted). Boxes are scaled and rounded to ``decimals`` (None: not rounded). A missing or
    unreadable image is an error naming it, or with ``skip_missing`` left out with its record,
    counted. An image smaller than ``size`` is an error (never upscaled). ``out_dir`` must not be
    ``img_dir`` or inside it.
    """
    ann_path, img_dir, out_dir = (os.fspath(p) for p in (ann_path, img_dir, out_dir))
    if size < 1:
        raise UserInputError(f'the size must be positive, got {size}')
    if not osp.isdir(img_dir):
        raise NotADirectoryError(f'{img_dir}: the image folder is not a folder')
    if _inside(out_dir, img_dir):
        raise UserInputError(f'{out_dir}: the output folder must not be the image folder '
                             f'{img_dir} or inside it (originals and copies would mix)')
    out_ann = osp.join(out_dir, osp.basename(ann_path))
    if osp.realpath(out_ann) == osp.realpath(ann_path):
        raise UserInputError(f'{out_ann}: writing the annotation there would replace the input')
    records = read_annotations(ann_path)
    report = ConversionReport(ann_path)
    written = {}
    for index, record in enumerate(records):
        name = record['file_name']
        where = f'record {index} ({name!r})'
        source = osp.join(img_dir, name)
        try:
            pixels = read_raw_image(source)
        except ImageReadError as e:
            if not skip_missing:
                raise ConversionError(ann_path, str(e), where) from None
            missing = not osp.exists(source)
            report.note(f'{"missing" if missing else "unreadable"} images, left out with their '
                        'records', name)
            continue
        try:
            resized, (fx, fy) = resize_image(pixels, size)
        except ValueError as e:
            raise ConversionError(ann_path, f'image {source} is {e}', where) from None
        new_name = name if name.lower().endswith('.png') else osp.splitext(name)[0] + '.png'
        if new_name != name:
            report.note('images written as PNG, file_name suffix changed', name)
        if new_name in written:
            raise ConversionError(ann_path, f'{name} and record {written[new_name]} would both be '
                                  f'written as {new_name}', where)
        written[new_name] = index
        out = dict(record, file_name=new_name)
        out['boxes'] = [
            check_box(round_box([x1 * fx, y1 * fy, x2 * fx, y2 * fy], decimals), ann_path, where,
                      what=f'box {j} after scaling')
            for j, (x1, y1, x2, y2) in enumerate(record['boxes'])]
        if 'polygons' in record:
            out['polygons'] = _scale_polygons(record['polygons'], fx, fy, decimals, ann_path,
                                             where)
        target = osp.join(out_dir, 'images', new_name)
        os.makedirs(osp.dirname(target), exist_ok=True)
        ok, encoded = cv2.imencode('.png', resized)
        if not ok:
            raise ConversionError(ann_path, f'cannot encode {target} as PNG', where)
        with open(target, 'wb') as f:
            f.write(encoded.tobytes())
        report.records.append(out)
        if (fx, fy) == (1.0, 1.0):
            report.note(f'images already {size} pixels on their longer side, copied', name)
    write_annotations(out_ann, report.records)
    return report, out_ann
