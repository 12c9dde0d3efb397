"""Converters from other chest X-ray box formats to the annotation format (and COCO both ways).

* :func:`convert_nih`: NIH ChestX-ray14's ``BBox_List_2017.csv``.
* :func:`to_coco` / :func:`from_coco`: COCO detection JSON.
* :func:`convert_vinbigdata`: VinDr-CXR / VinBigData's per-reader box CSV, readers fused by WBF.

Each returns a :class:`ConversionReport` (``to_coco``: the COCO dict and one) whose ``records`` go
to :func:`tbmm.datasets.annotations.write_annotations` and whose :meth:`~ConversionReport.format`
counts what was converted and everything left out, merged or clipped. Input mistakes raise
:class:`ConversionError`, one line naming the file and the row or entry. Light: no torch, mmdet
or mmengine import (image headers are read through :mod:`tbmm.datasets.image_io` only when asked).
"""
from tbmm.datasets.convert.coco import from_coco, to_coco, write_coco
from tbmm.datasets.convert.common import ConversionError, ConversionReport
from tbmm.datasets.convert.nih import NIH_IMAGE_SIZE, convert_nih
from tbmm.datasets.convert.vinbigdata import FUSE_MODES, convert_vinbigdata, read_image_sizes

__all__ = [
    'ConversionError', 'ConversionReport', 'FUSE_MODES', 'NIH_IMAGE_SIZE', 'convert_nih',
    'convert_vinbigdata', 'from_coco', 'read_image_sizes', 'to_coco', 'write_coco'
]
