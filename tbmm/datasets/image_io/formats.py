"""X-ray file formats: suffixes and signatures, the one-line :class:`ImageReadError`, header
facts (:class:`XRayInfo`, PNG and JPEG headers parsed directly) and the checks that need only the
first and last bytes of a file (DICOM recognition, a JPEG cut short)."""
import os
import os.path as osp
import struct
from collections import namedtuple

from tbmm.errors import UserInputError

__all__ = ['DICOM_SUFFIXES', 'IMAGE_SUFFIXES', 'DICOM_PREAMBLE_LENGTH', 'DICOM_MAGIC',
           'PNG_SIGNATURE', 'JPEG_SIGNATURE', 'JPEG_END_OF_IMAGE', 'JPEG_TAIL_WINDOW', 'XRayInfo',
           'ImageReadError', 'read_head', 'read_tail', 'check_jpeg_complete', 'sniff_format',
           'undecodable_reason', 'png_info', 'jpeg_info', 'has_dicom_magic', 'is_dicom']


DICOM_SUFFIXES = ('.dcm', '.dicom')
#: Suffixes of the files :func:`read_xray` reads (OpenCV's rasters and DICOM).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff') + DICOM_SUFFIXES

DICOM_PREAMBLE_LENGTH = 128
DICOM_MAGIC = b'DICM'
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_SIGNATURE = b'\xff\xd8\xff'
JPEG_END_OF_IMAGE = b'\xff\xd9'
# A JPEG whose last bytes hold no end-of-image marker was cut short; OpenCV only warns and returns
# the decoded part with the rest filled grey. Some writers pad after the marker, hence a window.
JPEG_TAIL_WINDOW = 1024
# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}
_SIGNATURES = (
    (PNG_SIGNATURE, 'PNG'),
    (JPEG_SIGNATURE, 'JPEG'),
    (b'BM', 'BMP'),
    (b'II*\x00', 'TIFF'),
    (b'MM\x00*', 'TIFF'),
)

XRayInfo = namedtuple('XRayInfo', ['width', 'height', 'format', 'bit_depth'])
XRayInfo.__doc__ = """Header facts of an X-ray file: size in pixels, format (``'PNG'``, ``'JPEG'``,
``'DICOM'``, ...) and bits per sample as stored (``None`` where the header doesn't say)."""


class ImageReadError(UserInputError):
    """An image that cannot be read; the message is one line: ``"<file>: <reason>"``."""

    def __init__(self, source, reason=None):
        # One argument: a whole message, as PyTorch passes when it re-raises a DataLoader worker's
        # error in the main process.
        super().__init__(source if reason is None else f'{source}: {reason}')
        self.source = source
        self.reason = reason


def read_head(path):
    """First bytes of ``path`` (enough for the DICOM marker); ImageReadError if unreadable."""
    if not osp.exists(path):
        raise ImageReadError(path, 'no such file')
    if osp.isdir(path):
        raise ImageReadError(path, 'is a directory, not an image file')
    try:
        with open(path, 'rb') as f:
            head = f.read(DICOM_PREAMBLE_LENGTH + len(DICOM_MAGIC))
    except OSError as e:
        raise ImageReadError(path, f'cannot open ({e.strerror or e})') from e
    if not head:
        raise ImageReadError(path, 'empty file (0 bytes)')
    return head


def read_tail(path):
    """The last ``JPEG_TAIL_WINDOW`` bytes of ``path``."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - JPEG_TAIL_WINDOW))
        return f.read()


def check_jpeg_complete(name, tail):
    """``ImageReadError`` when ``tail`` (a JPEG's last bytes) has no end-of-image marker."""
    if JPEG_END_OF_IMAGE not in tail:
        raise ImageReadError(name, 'truncated JPEG (no end-of-image marker)')


def sniff_format(head):
    """The raster format ``head`` starts with (``'PNG'``, ``'JPEG'``, ...), else None."""
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def undecodable_reason(head):
    """Why OpenCV could not decode a file that starts with ``head`` (one phrase)."""
    image_format = sniff_format(head)
    if image_format is None:
        return 'not an image file (unrecognised content)'
    return f'corrupt or truncated {image_format} data'


def png_info(path, head):
    """Size and bit depth from a PNG's IHDR chunk (``head``: the file's first bytes)."""
    # IHDR is always the first chunk: length(4) type(4) width(4) height(4) bit depth(1) ...
    if len(head) < 26 or head[12:16] != b'IHDR':
        raise ImageReadError(path, 'corrupt or truncated PNG data (no IHDR header)')
    width, height = struct.unpack('>II', head[16:24])
    return XRayInfo(width, height, 'PNG', head[24])


def jpeg_info(path, f):
    """Size and precision from a JPEG's first start-of-frame header (``f``: open file)."""
    f.seek(len(JPEG_SIGNATURE) - 1)
    while True:
        byte = f.read(1)
        while byte and byte != b'\xff':  # tolerate garbage between segments
            byte = f.read(1)
        while byte == b'\xff':  # fill bytes
            byte = f.read(1)
        if not byte:
            raise ImageReadError(path, 'corrupt or truncated JPEG data (no frame header)')
        marker = byte[0]
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            raise ImageReadError(path, 'corrupt JPEG data (no frame header before the image data)')
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            raise ImageReadError(path, 'corrupt or truncated JPEG data')
        if marker in _JPEG_SOF_MARKERS:
            frame = f.read(5)
            if len(frame) < 5:
                raise ImageReadError(path, 'corrupt or truncated JPEG data (short frame header)')
            precision, height, width = struct.unpack('>BHH', frame)
            return XRayInfo(width, height, 'JPEG', precision)
        f.seek(struct.unpack('>H', length_bytes)[0] - 2, os.SEEK_CUR)


def has_dicom_magic(head):
    """``head`` has the ``DICM`` marker after the 128-byte preamble."""
    return head[DICOM_PREAMBLE_LENGTH:DICOM_PREAMBLE_LENGTH + len(DICOM_MAGIC)] == DICOM_MAGIC


def is_dicom(head, name):
    """DICOM by its marker or, without a preamble, by the suffix of ``name``."""
    return has_dicom_magic(head) or str(name).lower().endswith(DICOM_SUFFIXES)
