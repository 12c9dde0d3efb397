"""DICOM through the standard's display pipeline (modality LUT, VOI LUT or window, MONOCHROME1
inverted) to ``uint8`` gray, with a :class:`DicomWindowWarning` where a malformed window makes it
fall back to the value range. pydicom is imported only here, and only for DICOM input."""
import contextlib
import warnings

import numpy as np

from tbmm.datasets.image_io.formats import ImageReadError, XRayInfo
from tbmm.datasets.image_io.pixels import bit_depth_to_uint8, colour_to_gray, to_uint8
from tbmm.errors import MissingExtraError, error_line

__all__ = ['DicomWindowWarning', 'recording_window_fallbacks', 'dicom_info', 'dicom_to_gray',
           'dicom_photometric']

_MONOCHROME = ('MONOCHROME1', 'MONOCHROME2')


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
        from pydicom.pixel_data_handlers.util import (
            apply_color_lut,
            apply_modality_lut,
            apply_voi_lut,
        )
    return apply_modality_lut, apply_voi_lut, apply_color_lut


def _read_dicom_dataset(pydicom, source, name, force, **kwargs):
    try:
        return pydicom.dcmread(source, force=force, **kwargs)
    except Exception as e:  # pydicom raises many types (InvalidDicomError, EOFError, ...)
        raise ImageReadError(name, f'not a readable DICOM file ({error_line(e)})') from e


def dicom_info(path, force):
    """:class:`XRayInfo` of a DICOM file from its header (pixels not read)."""
    pydicom = _import_pydicom(path)
    ds = _read_dicom_dataset(pydicom, path, path, force, stop_before_pixels=True)
    if 'Rows' not in ds or 'Columns' not in ds:
        raise ImageReadError(path, 'DICOM file has no image (Rows/Columns missing)')
    return XRayInfo(int(ds.Columns), int(ds.Rows), 'DICOM', ds.get('BitsStored'))


def dicom_to_gray(source, name, force):
    """A DICOM file (path or file object) as ``uint8`` gray, as the module docstring says."""
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
        return bit_depth_to_uint8(colour_to_gray(apply_color_lut(pixels, ds), 'RGB', name))
    if samples_per_pixel > 1:  # pydicom returns colour as RGB (YBR converted)
        return bit_depth_to_uint8(colour_to_gray(pixels, 'RGB', name))

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


def dicom_photometric(path):
    """The Photometric Interpretation of a DICOM file (``MONOCHROME2`` when it has none)."""
    import pydicom  # read_xray_info has already needed it for this file
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return str(ds.get('PhotometricInterpretation', 'MONOCHROME2')).strip().upper()


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
