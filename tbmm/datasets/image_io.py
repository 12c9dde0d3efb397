"""Reading chest X-rays (PNG, JPEG, DICOM) into 8-bit grayscale arrays.

Every reader returns ``uint8`` gray pixels, replicated to 3 channels by default because the
detector's backbone expects 3 channels. X-rays are gray, so colour, RGBA and palette files are
converted to gray (luma weights; the alpha channel is dropped) before being replicated.

Mapping to 8 bits:

* 8-bit images are kept as stored.
* Images with more than 8 bits (16-bit PNG, 12-bit data stored in 16 bits, float images) are
  stretched linearly from their **actual value range** ``[min, max]`` to ``[0, 255]`` (rounded to
  nearest). A 12-bit image stored in a 16-bit PNG therefore uses the full 8-bit range instead of
  coming out almost black (``4095 / 65535 * 255 = 16``), and a true 16-bit image is handled the same
  way. The mapping is monotonic, so relative contrast is preserved; a constant image maps to zeros.
* DICOM follows the display pipeline of the standard: the modality LUT (Rescale Slope/Intercept or
  a Modality LUT Sequence), then the VOI LUT (VOI LUT Sequence, else the first Window
  Center/Width), whose output range is mapped linearly to ``[0, 255]``, so the window chosen for
  display is honoured (values outside the window saturate). Without a VOI LUT or window the actual
  value range is stretched as above; so it is when they are malformed (a width below 1, a center
  without a width, a LUT whose data do not fit its descriptor or whose output is constant), and
  then a :class:`DicomWindowWarning` names the file (once per file and process;
  :func:`recording_window_fallbacks` collects them instead, e.g. for a count in a summary). MONOCHROME1 images (and a Presentation LUT Shape of INVERSE)
  are inverted afterwards, so lungs are dark as in MONOCHROME2. Multi-frame files yield their
  first frame.

Files are recognised as DICOM by the ``DICM`` marker after the 128-byte preamble or by a ``.dcm`` /
``.dicom`` suffix; everything else is decoded by OpenCV. pydicom is only imported for DICOM input.

Unreadable input (missing, empty, truncated, not an image) raises :class:`ImageReadError`, whose
message is one line naming the file and the reason.
"""
import contextlib
import io
import os
import os.path as osp
import struct
import warnings
from collections import namedtuple

import cv2
import numpy as np

from tbmm.errors import MissingExtraError, UserInputError, error_line

DICOM_SUFFIXES = ('.dcm', '.dicom')
#: Suffixes of the files :func:`read_xray` reads (OpenCV's rasters and DICOM).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff') + DICOM_SUFFIXES

_DICOM_PREAMBLE_LENGTH = 128
_DICOM_MAGIC = b'DICM'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SIGNATURE = b'\xff\xd8\xff'
_JPEG_END_OF_IMAGE = b'\xff\xd9'
# A JPEG whose last bytes hold no end-of-image marker was cut short; OpenCV only warns and returns
# the decoded part with the rest filled grey. Some writers pad after the marker, hence a window.
_JPEG_TAIL_WINDOW = 1024
# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}
_SIGNATURES = (
    (_PNG_SIGNATURE, 'PNG'),
    (_JPEG_SIGNATURE, 'JPEG'),
    (b'BM', 'BMP'),
    (b'II*\x00', 'TIFF'),
    (b'MM\x00*', 'TIFF'),
)
_MONOCHROME = ('MONOCHROME1', 'MONOCHROME2')

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


class DicomWindowWarning(UserWarning):
    """A DICOM file's VOI window or LUT is malformed, so its value range was stretched instead.

    The message is one line naming the file and the reason; ``source`` and ``reason`` hold them.
    """

    def __init__(self, source, reason=None):
        super().__init__(source if reason is None else
                         f'{source}: malformed VOI window/LUT ({reason}); its value range was '
                         f'stretched to 0-255 instead')
        self.source = source
        self.reason = reason


@contextlib.contextmanager
def recording_window_fallbacks():
    """Collect the :class:`DicomWindowWarning` of the reads inside (every read, not once per
    file) instead of showing them; yields a dict ``{file: reason}`` filled as they come. Other
    warnings are shown as usual. Not thread-safe (it swaps ``warnings.showwarning``)."""
    found = {}
    with warnings.catch_warnings():
        warnings.simplefilter('always', DicomWindowWarning)
        show = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None):
            if isinstance(message, DicomWindowWarning):
                found.setdefault(message.source, message.reason)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        yield found


def read_xray(path, channels=3):
    """Read a PNG/JPEG/DICOM X-ray as ``uint8`` gray pixels.

    Args:
        path: a local file path.
        channels: 3 (default) for ``H x W x 3`` with identical channels, 1 for ``H x W``.

    Raises:
        ImageReadError: the file is missing, empty, truncated or not a decodable image.
        MissingExtraError (an ImportError): the file is DICOM and pydicom is not installed.
    """
    _check_channels(channels)
    path = os.fspath(path)
    head = _read_head(path)
    if _is_dicom(head, path):
        gray = _dicom_to_gray(path, path, force=not _has_dicom_magic(head))
    else:
        decoded = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise ImageReadError(path, _undecodable_reason(head))
        if head.startswith(_JPEG_SIGNATURE):
            _check_jpeg_complete(path, _read_tail(path))
        gray = _raster_to_gray(decoded, path)
    return _with_channels(gray, channels)


def decode_xray(data, channels=3, name='<bytes>'):
    """Like :func:`read_xray` for the bytes of a file (e.g. fetched from a remote storage backend).

    ``name`` is used in error messages and, through its suffix, to recognise DICOM without a
    preamble.
    """
    _check_channels(channels)
    data = bytes(data)
    if not data:
        raise ImageReadError(name, 'empty file (0 bytes)')
    head = data[:_DICOM_PREAMBLE_LENGTH + len(_DICOM_MAGIC)]
    if _is_dicom(head, name):
        gray = _dicom_to_gray(io.BytesIO(data), name, force=not _has_dicom_magic(head))
    else:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise ImageReadError(name, _undecodable_reason(head))
        if head.startswith(_JPEG_SIGNATURE):
            _check_jpeg_complete(name, data[-_JPEG_TAIL_WINDOW:])
        gray = _raster_to_gray(decoded, name)
    return _with_channels(gray, channels)


def read_xray_info(path):
    """Return an :class:`XRayInfo` from the file header, without decoding the pixels.

    PNG, JPEG and DICOM headers are parsed directly (DICOM through pydicom, stopping before the
    pixel data); other formats fall back to a full decode. Meant for fast data validation, e.g.
    checking that annotation boxes lie inside their image.
    """
    path = os.fspath(path)
    head = _read_head(path)
    if _is_dicom(head, path):
        return _dicom_info(path, force=not _has_dicom_magic(head))
    try:
        if head.startswith(_PNG_SIGNATURE):
            return _png_info(path, head)
        if head.startswith(_JPEG_SIGNATURE):
            with open(path, 'rb') as f:
                return _jpeg_info(path, f)
    except OSError as e:
        raise ImageReadError(path, f'cannot read ({e.strerror or e})') from e
    decoded = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageReadError(path, _undecodable_reason(head))
    height, width = decoded.shape[:2]
    return XRayInfo(width, height, _sniff_format(head), decoded.dtype.itemsize * 8)


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


# --- raster files ---------------------------------------------------------------------------------


def _raster_to_gray(decoded, name):
    """OpenCV's IMREAD_UNCHANGED output (gray, BGR, BGRA; any depth) -> uint8 gray."""
    return _bit_depth_to_uint8(_colour_to_gray(decoded, 'BGR', name))


def _colour_to_gray(pixels, order, name):
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


def _bit_depth_to_uint8(gray):
    return gray if gray.dtype == np.uint8 else to_uint8(gray)


def _with_channels(gray, channels):
    return gray if channels == 1 else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def _check_channels(channels):
    if channels not in (1, 3):
        raise ValueError(f'channels must be 1 or 3, got {channels!r}')


def _read_head(path):
    """First bytes of ``path`` (enough for the DICOM marker); ImageReadError if unreadable."""
    if not osp.exists(path):
        raise ImageReadError(path, 'no such file')
    if osp.isdir(path):
        raise ImageReadError(path, 'is a directory, not an image file')
    try:
        with open(path, 'rb') as f:
            head = f.read(_DICOM_PREAMBLE_LENGTH + len(_DICOM_MAGIC))
    except OSError as e:
        raise ImageReadError(path, f'cannot open ({e.strerror or e})') from e
    if not head:
        raise ImageReadError(path, 'empty file (0 bytes)')
    return head


def _read_tail(path):
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _JPEG_TAIL_WINDOW))
        return f.read()


def _check_jpeg_complete(name, tail):
    if _JPEG_END_OF_IMAGE not in tail:
        raise ImageReadError(name, 'truncated JPEG (no end-of-image marker)')


def _sniff_format(head):
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def _undecodable_reason(head):
    image_format = _sniff_format(head)
    if image_format is None:
        return 'not an image file (unrecognised content)'
    return f'corrupt or truncated {image_format} data'


def _png_info(path, head):
    # IHDR is always the first chunk: length(4) type(4) width(4) height(4) bit depth(1) ...
    if len(head) < 26 or head[12:16] != b'IHDR':
        raise ImageReadError(path, 'corrupt or truncated PNG data (no IHDR header)')
    width, height = struct.unpack('>II', head[16:24])
    return XRayInfo(width, height, 'PNG', head[24])


def _jpeg_info(path, f):
    f.seek(len(_JPEG_SIGNATURE) - 1)
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


# --- DICOM ----------------------------------------------------------------------------------------


def _has_dicom_magic(head):
    return head[_DICOM_PREAMBLE_LENGTH:_DICOM_PREAMBLE_LENGTH + len(_DICOM_MAGIC)] == _DICOM_MAGIC


def _is_dicom(head, name):
    return _has_dicom_magic(head) or str(name).lower().endswith(DICOM_SUFFIXES)


def _import_pydicom(name):
    try:
        import pydicom
    except ImportError as e:
        raise MissingExtraError(
            f'{name}: reading DICOM needs pydicom, which is not installed; '
            "install it with `pip install pydicom` (or the 'tbmm[dicom]' extra)") from e
    return pydicom


def _pixel_functions():
    """pydicom's LUT functions: ``pydicom.pixels`` in pydicom 3, the older module in pydicom 2."""
    try:
        from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
    except ImportError:
        from pydicom.pixel_data_handlers.util import (apply_color_lut, apply_modality_lut,
                                                      apply_voi_lut)
    return apply_modality_lut, apply_voi_lut, apply_color_lut


def _read_dicom_dataset(pydicom, source, name, force, **kwargs):
    try:
        return pydicom.dcmread(source, force=force, **kwargs)
    except Exception as e:  # pydicom raises many types (InvalidDicomError, EOFError, ...)
        raise ImageReadError(name, f'not a readable DICOM file ({error_line(e)})') from e


def _dicom_info(path, force):
    pydicom = _import_pydicom(path)
    ds = _read_dicom_dataset(pydicom, path, path, force, stop_before_pixels=True)
    if 'Rows' not in ds or 'Columns' not in ds:
        raise ImageReadError(path, 'DICOM file has no image (Rows/Columns missing)')
    return XRayInfo(int(ds.Columns), int(ds.Rows), 'DICOM', ds.get('BitsStored'))


def _dicom_to_gray(source, name, force):
    pydicom = _import_pydicom(name)
    ds = _read_dicom_dataset(pydicom, source, name, force)
    if not any(k in ds for k in ('PixelData', 'FloatPixelData', 'DoubleFloatPixelData')):
        raise ImageReadError(name, 'DICOM file has no pixel data')
    n_frames = int(ds.get('NumberOfFrames') or 1)
    try:
        if n_frames > 1 and hasattr(ds, 'pixel_array_options'):
            ds.pixel_array_options(index=0)  # pydicom 3: decode only the first frame
        pixels = ds.pixel_array
    except Exception as e:  # missing decoder plugin, short pixel data, ...
        raise ImageReadError(name, f'cannot decode DICOM pixel data ({error_line(e)})') from e
    samples_per_pixel = int(ds.get('SamplesPerPixel') or 1)
    if n_frames > 1 and pixels.ndim == (3 if samples_per_pixel > 1 else 2) + 1:
        pixels = pixels[0]  # pydicom 2 decodes all frames

    apply_modality_lut, apply_voi_lut, apply_color_lut = _pixel_functions()
    photometric = str(ds.get('PhotometricInterpretation', 'MONOCHROME2')).strip().upper()
    if photometric == 'PALETTE COLOR':
        return _bit_depth_to_uint8(_colour_to_gray(apply_color_lut(pixels, ds), 'RGB', name))
    if samples_per_pixel > 1:  # pydicom returns colour as RGB (YBR converted)
        return _bit_depth_to_uint8(_colour_to_gray(pixels, 'RGB', name))

    try:
        values = apply_modality_lut(pixels, ds)
    except (ValueError, AttributeError, KeyError, IndexError, TypeError, NotImplementedError) as e:
        raise ImageReadError(name, f'malformed DICOM rescale/modality LUT ({error_line(e)})') from e
    gray = None
    if photometric in _MONOCHROME:
        malformed = None
        if _has_voi(ds):
            try:
                windowed = apply_voi_lut(values, ds, index=0)
                gray = to_uint8(windowed, *_voi_output_range(ds, apply_voi_lut))
            except (ValueError, AttributeError, KeyError, IndexError, TypeError,
                    NotImplementedError) as e:
                malformed = error_line(e)  # e.g. a window width < 1
        else:
            malformed = _unusable_voi(ds)
        if malformed is not None:  # the value range below, said once per file
            warnings.warn(DicomWindowWarning(str(name), malformed), stacklevel=2)
    if gray is None:
        gray = to_uint8(values)
    if photometric == 'MONOCHROME1' or str(ds.get('PresentationLUTShape', '')).upper() == 'INVERSE':
        gray = 255 - gray  # MONOCHROME1 stores the minimum as white; make lungs dark
    return gray


def _has_voi(ds):
    # Same test as pydicom's apply_voi_lut, which silently does nothing when neither is usable.
    has_window = all(ds.get(k) not in (None, '') for k in ('WindowCenter', 'WindowWidth'))
    return _valid_voi_lut_item(ds) is not None or has_window


def _unusable_voi(ds):
    """Why the VOI elements of a file without a usable window or LUT are unusable; None when it
    has none at all."""
    given = [k for k in ('WindowCenter', 'WindowWidth') if ds.get(k) not in (None, '')]
    if len(given) == 1:
        missing = 'WindowWidth' if given[0] == 'WindowCenter' else 'WindowCenter'
        return f'{given[0]} without {missing}'
    if ds.get('VOILUTSequence'):
        return 'VOI LUT Sequence item without LUT Descriptor or LUT Data'
    return None


def _valid_voi_lut_item(ds):
    sequence = ds.get('VOILUTSequence')
    if not sequence:
        return None
    item = sequence[0]
    if item.get('LUTDescriptor') is None or item.get('LUTData') is None:
        return None
    return item


def _voi_output_range(ds, apply_voi_lut):
    """The range the VOI transform maps onto, found by sending its input extremes through it.

    For a VOI LUT that's every LUT input; for windowing, values far below and above the window,
    which land on pydicom's output bounds (these depend on Bits Stored, signedness and rescaling).
    """
    lut_item = _valid_voi_lut_item(ds)  # pydicom prefers the LUT over the window, as here
    if lut_item is not None:
        n_entries = int(lut_item.LUTDescriptor[0]) or 2**16  # 0 means 65536 entries
        first_input = int(lut_item.LUTDescriptor[1])
        probe = np.arange(first_input, first_input + n_entries, dtype=np.int64)
    else:
        probe = np.array([-1e30, 1e30])
    with np.errstate(over='ignore'):  # the sigmoid VOI function overflows harmlessly there
        output = np.asarray(apply_voi_lut(probe, ds, index=0), dtype=np.float64)
    low, high = float(output.min()), float(output.max())
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f'degenerate VOI output range [{low}, {high}]')
    return low, high
