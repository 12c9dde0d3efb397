"""Is an image file complete and readable, and what is it? :func:`inspect_image` answers from
the header and the file's last bytes, without decoding the pixels; ``validate_data`` and the data
set's ``check_images`` share it, so the tool and training agree."""
import os
from dataclasses import dataclass
from typing import Optional

from tbmm.datasets.image_io.dicom import dicom_photometric
from tbmm.datasets.image_io.formats import (
    JPEG_SIGNATURE,
    PNG_SIGNATURE,
    ImageReadError,
    check_jpeg_complete,
    read_head,
    read_tail,
)
from tbmm.datasets.image_io.reading import read_xray_info

__all__ = ['ImageCheck', 'inspect_image']

_PNG_COLOUR_TYPES = {0: 'gray', 2: 'RGB', 3: 'palette', 4: 'gray+alpha', 6: 'RGBA'}


@dataclass(frozen=True)
class ImageCheck:
    """What :func:`inspect_image` found out about one image file without decoding it."""
    width: int
    height: int
    kind: str  # e.g. 'PNG 16-bit gray', 'DICOM MONOCHROME1'
    conversion: Optional[str]  # how reading turns it into 8-bit gray, when it is not that already


def inspect_image(path):
    """Check that ``path`` looks like a complete, readable image and return an :class:`ImageCheck`.

    Reads the header and the file's last bytes (a PNG must end with its IEND chunk, a JPEG with its
    end-of-image marker, which catches files cut short by an interrupted copy) without decoding the
    pixels, so corrupt pixel data inside a complete file goes unnoticed (decode to find that).
    Raises :class:`ImageReadError` naming the file.
    """
    path = os.fspath(path)
    info = read_xray_info(path)  # missing, empty, directory, header problems
    head, tail = read_head(path), read_tail(path)
    if head.startswith(PNG_SIGNATURE) and b'IEND' not in tail:
        raise ImageReadError(path, 'truncated PNG data (the file ends before its IEND chunk)')
    if head.startswith(JPEG_SIGNATURE):
        check_jpeg_complete(path, tail)
    kind, conversion = _describe(path, head, info)
    return ImageCheck(int(info.width), int(info.height), kind, conversion)


def _describe(path, head, info):
    """``(kind, conversion)`` of an image, where ``conversion`` says what reading it changes."""
    if info.format == 'PNG' and len(head) >= 26:
        bit_depth, colour = head[24], _PNG_COLOUR_TYPES.get(head[25], f'colour type {head[25]}')
        changes = []
        if colour != 'gray':
            alpha = colour in ('RGBA', 'gray+alpha')
            changes.append('converted to gray' + (', alpha dropped' if alpha else ''))
        if bit_depth > 8:
            changes.append('stretched to 8 bits from its value range')
        return f'PNG {bit_depth}-bit {colour}', '; '.join(changes) or None
    if info.format == 'DICOM':
        photometric = dicom_photometric(path)
        kind = f'DICOM {photometric}'
        to_8_bits = 'mapped to 8 bits through its window (or value range)'
        if photometric == 'MONOCHROME1':
            return kind, f'{to_8_bits}, then inverted so that lungs are dark'
        return kind, to_8_bits
    bits = f' {info.bit_depth}-bit' if info.bit_depth else ''
    kind = f'{info.format or "image"}{bits}'
    return kind, ('stretched to 8 bits from its value range'
                  if info.bit_depth and info.bit_depth > 8 else None)
