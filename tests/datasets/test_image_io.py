"""read_xray: PNG/JPEG of any bit depth and colour type, DICOM display pipeline, bad files."""
import cv2
import numpy as np
import pytest
from PIL import Image

from tbmm.datasets.image_io import ImageReadError, decode_xray, read_xray, read_xray_info, to_uint8
from tests.helpers import write_dicom

try:
    import pydicom
except ImportError:  # optional dependency: only the DICOM tests need it
    pydicom = None

requires_pydicom = pytest.mark.skipif(pydicom is None, reason='pydicom is not installed')


def gradient(height, width, high, dtype):
    """Horizontal ramp from 0 to ``high``, alternate rows lowered, so no column is constant."""
    ramp = np.linspace(0, high, width)[None, :] * np.ones((height, 1))
    ramp[::2] = np.maximum(ramp[::2] - high / 10, 0)
    return np.round(ramp).astype(dtype)


def assert_gray3(img, height, width):
    assert img.dtype == np.uint8 and img.shape == (height, width, 3)
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])


# --- raster files ---------------------------------------------------------------------------------


def test_8bit_gray_png_loads_unchanged_in_three_identical_channels(tmp_path):
    pixels = (np.random.RandomState(0).rand(37, 53) * 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), pixels)
    img = read_xray(tmp_path / 'a.png')
    assert_gray3(img, 37, 53)
    assert np.array_equal(img[..., 0], pixels)
    assert np.array_equal(read_xray(tmp_path / 'a.png', channels=1), pixels)


@pytest.mark.parametrize('high', [4095, 65535, 1000])
def test_16bit_png_is_stretched_from_its_value_range_to_0_255(tmp_path, high):
    pixels = gradient(40, 300, high, np.uint16)
    pixels[0, 0], pixels[0, -1] = 0, high
    cv2.imwrite(str(tmp_path / 'a.png'), pixels)
    assert cv2.imread(str(tmp_path / 'a.png'), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    img = read_xray(tmp_path / 'a.png')
    assert_gray3(img, 40, 300)
    gray = img[..., 0].astype(int)
    assert gray.min() == 0 and gray.max() == 255
    # Monotonic: the order of stored values is kept (ties allowed where 16 bits collapse to 8).
    order = np.argsort(pixels.ravel(), kind='stable')
    assert np.all(np.diff(gray.ravel()[order]) >= 0)
    # And linear: each output is the rounded proportional value.
    assert np.abs(gray - pixels.astype(float) * 255 / high).max() <= 0.5 + 1e-6


def test_16bit_png_with_offset_range_uses_the_full_8_bit_range(tmp_path):
    pixels = gradient(10, 50, 1000, np.uint16) + 3000
    cv2.imwrite(str(tmp_path / 'a.png'), pixels)
    gray = read_xray(tmp_path / 'a.png', channels=1)
    assert gray.min() == 0 and gray.max() == 255


def test_constant_16bit_png_maps_to_zeros(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((8, 9), 1234, np.uint16))
    assert np.array_equal(read_xray(tmp_path / 'a.png', channels=1), np.zeros((8, 9), np.uint8))


def test_rgb_rgba_and_palette_pngs_load_as_gray(tmp_path):
    gray = gradient(30, 64, 255, np.uint8)
    Image.fromarray(np.stack([gray] * 3, -1), 'RGB').save(tmp_path / 'rgb.png')
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 7)])  # alpha dropped, not blended
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'rgba.png')
    Image.fromarray(gray, 'L').convert('P').save(tmp_path / 'palette.png')
    gray_alpha = np.dstack([gray, np.full_like(gray, 7)])
    Image.fromarray(gray_alpha, 'LA').save(tmp_path / 'gray_alpha.png')
    assert Image.open(tmp_path / 'palette.png').mode == 'P'
    for name in ['rgb.png', 'rgba.png', 'palette.png', 'gray_alpha.png']:
        img = read_xray(tmp_path / name)
        assert_gray3(img, 30, 64)
        assert np.abs(img[..., 0].astype(int) - gray).max() <= 1, name


def test_colour_png_uses_luma(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> luma 0.299 * 255
    Image.fromarray(rgb, 'RGB').save(tmp_path / 'red.png')
    assert abs(int(read_xray(tmp_path / 'red.png')[0, 0, 0]) - 76) <= 1


def test_16bit_rgb_png_is_stretched_like_gray(tmp_path):
    gray = gradient(20, 40, 4095, np.uint16)
    cv2.imwrite(str(tmp_path / 'a.png'), np.dstack([gray] * 3))
    img = read_xray(tmp_path / 'a.png', channels=1)
    assert img.min() == 0 and img.max() == 255


def test_non_square_image_keeps_its_size(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), gradient(731, 517, 255, np.uint8))
    assert read_xray(tmp_path / 'a.png').shape == (731, 517, 3)
    assert read_xray_info(tmp_path / 'a.png') == (517, 731, 'PNG', 8)


def test_jpeg_loads_as_gray(tmp_path):
    pixels = gradient(48, 64, 255, np.uint8)
    cv2.imwrite(str(tmp_path / 'a.jpg'), pixels, [cv2.IMWRITE_JPEG_QUALITY, 100])
    img = read_xray(tmp_path / 'a.jpg')
    assert_gray3(img, 48, 64)
    assert np.abs(img[..., 0].astype(int) - pixels).mean() < 2
    assert read_xray_info(tmp_path / 'a.jpg') == (64, 48, 'JPEG', 8)


def test_decode_xray_matches_read_xray(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), gradient(20, 30, 4095, np.uint16))
    data = (tmp_path / 'a.png').read_bytes()
    assert np.array_equal(decode_xray(data, name='a.png'), read_xray(tmp_path / 'a.png'))


def test_invalid_channels_is_rejected(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match='channels'):
        read_xray(tmp_path / 'a.png', channels=2)


def test_to_uint8_saturates_outside_the_given_range():
    assert to_uint8(np.array([-5, 0, 50, 100, 200]), 0, 100).tolist() == [0, 0, 128, 255, 255]


# --- unreadable input -----------------------------------------------------------------------------


def write_truncated(tmp_path, name):
    path = tmp_path / f'full_{name}'
    cv2.imwrite(str(path), (np.random.RandomState(1).rand(64, 64) * 255).astype(np.uint8))
    data = path.read_bytes()
    (tmp_path / name).write_bytes(data[:len(data) // 2])
    return tmp_path / name


def make_unreadable(tmp_path, kind):
    if kind == 'missing':
        return tmp_path / 'missing.png'
    if kind == 'directory':
        return tmp_path
    if kind == 'empty':
        (tmp_path / 'empty.png').write_bytes(b'')
        return tmp_path / 'empty.png'
    if kind == 'text':
        (tmp_path / 'text.png').write_text('not an image')
        return tmp_path / 'text.png'
    names = {'truncated_png': 'cut.png', 'truncated_jpeg': 'cut.jpg'}
    return write_truncated(tmp_path, names[kind])


@pytest.mark.parametrize('kind, reason', [
    ('missing', 'no such file'),
    ('directory', 'is a directory'),
    ('empty', r'empty file \(0 bytes\)'),
    ('text', 'not an image file'),
    ('truncated_png', 'corrupt or truncated PNG data'),
    ('truncated_jpeg', 'truncated JPEG'),
])
def test_unreadable_files_raise_image_read_error_naming_the_file(tmp_path, kind, reason):
    path = make_unreadable(tmp_path, kind)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_xray(path)
    message = str(info.value)
    assert message.startswith(f'{path}: ') and '\n' not in message
    assert isinstance(info.value, ValueError)


def test_truncated_bytes_raise_image_read_error_with_the_given_name(tmp_path):
    data = write_truncated(tmp_path, 'cut.png').read_bytes()
    with pytest.raises(ImageReadError, match=r'^s3://bucket/cut.png: corrupt or truncated PNG'):
        decode_xray(data, name='s3://bucket/cut.png')


# --- DICOM ----------------------------------------------------------------------------------------

@requires_pydicom
def test_monochrome1_is_the_inverse_of_monochrome2(tmp_path):
    pixels = gradient(24, 40, 4095, np.uint16)
    mono2 = read_xray(write_dicom(tmp_path / 'm2.dcm', pixels, 'MONOCHROME2'))
    mono1 = read_xray(write_dicom(tmp_path / 'm1.dcm', pixels, 'MONOCHROME1'))
    assert_gray3(mono2, 24, 40)
    assert mono2[..., 0].min() == 0 and mono2[..., 0].max() == 255  # no window: value range
    assert np.array_equal(mono1.astype(int), 255 - mono2.astype(int))
    # MONOCHROME2 keeps the order of stored values, MONOCHROME1 reverses it.
    assert mono2[0, -1, 0] > mono2[0, 0, 0] and mono1[0, -1, 0] < mono1[0, 0, 0]


@requires_pydicom
def test_dicom_window_is_honoured_and_values_outside_it_saturate(tmp_path):
    pixels = np.array([[0, 1000, 1500, 2000, 4095]], np.uint16)
    path = write_dicom(tmp_path / 'w.dcm', pixels, WindowCenter=1500, WindowWidth=1001)
    # 12-bit unsigned: the window [1000, 2000] spans the whole 8-bit output.
    assert read_xray(path, channels=1).tolist() == [[0, 0, 128, 255, 255]]


def voi_lut_sequence(descriptor, data):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    item = Dataset()
    if descriptor is not None:
        item.add_new('LUTDescriptor', 'US', descriptor)
    if data is not None:
        item.add_new('LUTData', 'US', data)
    return Sequence([item])


MALFORMED_VOI = {
    'width below 1': (lambda: dict(WindowCenter=1500, WindowWidth=0),
                      'Window Width must be greater than or equal to 1'),
    'center without width': (lambda: dict(WindowCenter=1500), 'WindowCenter without WindowWidth'),
    'LUT shorter than its descriptor': (
        lambda: dict(VOILUTSequence=voi_lut_sequence([4096, 0, 12], [0, 1, 2])), 'out of bounds'),
    'constant LUT': (lambda: dict(VOILUTSequence=voi_lut_sequence([4096, 0, 12], [7] * 4096)),
                     'degenerate VOI output range'),
    'LUT item without descriptor or data': (
        lambda: dict(VOILUTSequence=voi_lut_sequence(None, None)),
        'VOI LUT Sequence item without LUT Descriptor or LUT Data'),
}


@requires_pydicom
@pytest.mark.parametrize('case', sorted(MALFORMED_VOI))
def test_malformed_dicom_window_or_lut_falls_back_to_the_value_range_with_a_warning(tmp_path,
                                                                                     case):
    from tbmm.datasets.image_io import DicomWindowWarning
    elements, reason = MALFORMED_VOI[case]
    pixels = np.array([[0, 1000, 1500, 2000, 4095]], np.uint16)
    path = write_dicom(tmp_path / 'bad_voi.dcm', pixels, **elements())
    with pytest.warns(DicomWindowWarning) as caught:
        gray = read_xray(path, channels=1)
    assert gray.tolist() == [[0, 62, 93, 125, 255]]  # round(v / 4095 * 255): the value range
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f'{path}: malformed VOI window/LUT (') and reason in message
    assert 'value range was stretched' in message and '\n' not in message


@requires_pydicom
def test_window_fallbacks_are_recorded_per_file_and_valid_windows_say_nothing(tmp_path):
    import warnings

    from tbmm.datasets.image_io import recording_window_fallbacks
    pixels = np.array([[0, 1000, 1500, 2000, 4095]], np.uint16)
    bad = [write_dicom(tmp_path / f'bad{i}.dcm', pixels, WindowCenter=1500, WindowWidth=0)
           for i in range(2)]
    good = write_dicom(tmp_path / 'good.dcm', pixels, WindowCenter=1500, WindowWidth=1001)
    plain = write_dicom(tmp_path / 'plain.dcm', pixels)  # no window at all: nothing to say
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter('always')
        with recording_window_fallbacks() as fallbacks:
            for path in (bad[0], good, bad[1], plain, bad[0]):
                read_xray(path)
            warnings.warn('another warning', UserWarning)
    assert list(fallbacks) == [str(bad[0]), str(bad[1])]
    assert all('Window Width must be' in reason for reason in fallbacks.values())
    # Recorded, not shown; other warnings still are.
    assert [str(w.message) for w in shown] == ['another warning']
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter('always')
        read_xray(good)
        read_xray(plain)
    assert not shown


@requires_pydicom
def test_malformed_modality_lut_is_an_image_read_error(tmp_path):
    # Unlike a display window, the modality LUT defines the values: no fallback, the file is bad.
    path = write_dicom(tmp_path / 'bad_modality.dcm', np.full((2, 2), 100, np.uint16),
                       ModalityLUTSequence=voi_lut_sequence([4096, 0, 12], [0, 1, 2]))
    with pytest.raises(ImageReadError,
                       match=r'bad_modality\.dcm: malformed DICOM rescale/modality LUT'):
        read_xray(path)


@requires_pydicom
def test_dicom_rescale_slope_and_intercept_are_applied_before_the_window(tmp_path):
    stored = np.array([[0, 250, 500, 750, 1000]], np.uint16)  # -> -1000, -500, 0, 500, 1000 in HU
    path = write_dicom(tmp_path / 'ct_like.dcm', stored, RescaleSlope=2, RescaleIntercept=-1000,
                       WindowCenter=0, WindowWidth=1001)
    gray = read_xray(path, channels=1)[0]
    # A window of [-500, 500] on rescaled values; on stored values it would saturate from 500 up.
    assert gray[0] == 0 and gray[1] == 0 and abs(int(gray[2]) - 128) <= 1 and gray[3] == 255


@requires_pydicom
def test_dicom_without_window_after_rescale_uses_the_value_range(tmp_path):
    stored = np.array([[10, 20, 30]], np.uint16)
    path = write_dicom(tmp_path / 'r.dcm', stored, RescaleSlope=-1, RescaleIntercept=100)
    assert read_xray(path, channels=1).tolist() == [[255, 128, 0]]  # slope -1 reverses the order


@requires_pydicom
def test_multiframe_dicom_yields_the_first_frame(tmp_path):
    frames = np.stack([gradient(8, 16, 4095, np.uint16), np.zeros((8, 16), np.uint16)])
    frames[1, 0, 0] = 1
    path = write_dicom(tmp_path / 'multi.dcm', frames)
    single = write_dicom(tmp_path / 'single.dcm', frames[0])
    assert np.array_equal(read_xray(path), read_xray(single))


@requires_pydicom
def test_dicom_is_recognised_by_preamble_without_suffix_and_by_suffix_without_preamble(tmp_path):
    pixels = gradient(8, 16, 4095, np.uint16)
    reference = read_xray(write_dicom(tmp_path / 'ref.dcm', pixels))
    assert np.array_equal(read_xray(write_dicom(tmp_path / 'IM0001', pixels)), reference)
    raw = write_dicom(tmp_path / 'raw.dcm', pixels, preamble=False)
    assert raw.read_bytes()[128:132] != b'DICM'
    assert np.array_equal(read_xray(raw), reference)
    assert read_xray_info(tmp_path / 'IM0001') == (16, 8, 'DICOM', 12)


@requires_pydicom
def test_truncated_dicom_raises_image_read_error(tmp_path):
    path = write_dicom(tmp_path / 'full.dcm', gradient(64, 64, 4095, np.uint16))
    data = path.read_bytes()
    (tmp_path / 'cut.dcm').write_bytes(data[:len(data) - 3000])
    with pytest.raises(ImageReadError, match='cut.dcm: '):
        read_xray(tmp_path / 'cut.dcm')


@requires_pydicom
def test_dicom_without_pixel_data_raises_image_read_error(tmp_path):
    path = write_dicom(tmp_path / 'a.dcm', np.zeros((4, 4), np.uint16))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(tmp_path / 'nopix.dcm')
    with pytest.raises(ImageReadError, match='nopix.dcm: DICOM file has no pixel data'):
        read_xray(tmp_path / 'nopix.dcm')


@requires_pydicom
def test_missing_pydicom_gives_an_install_hint(tmp_path, monkeypatch):
    path = write_dicom(tmp_path / 'a.dcm', np.zeros((4, 4), np.uint16))
    monkeypatch.setitem(__import__('sys').modules, 'pydicom', None)  # makes `import pydicom` fail
    with pytest.raises(ImportError, match='pip install pydicom'):
        read_xray(path)


@requires_pydicom
def test_missing_pydicom_in_a_tool_is_one_error_line(tmp_path, monkeypatch, capsys):
    from tbmm.utils import run_cli

    path = write_dicom(tmp_path / 'a.dcm', np.zeros((4, 4), np.uint16))
    monkeypatch.setitem(__import__('sys').modules, 'pydicom', None)
    assert run_cli(lambda argv: read_xray(path), []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {path}: reading DICOM needs pydicom, which is not installed')
    assert '\n' not in err


@pytest.fixture(scope='module')
def real_monochrome1_radiograph():
    """pydicom-data's chest PA radiograph: 1955 x 1841, 15 bits, MONOCHROME1, window 15000/30000."""
    try:
        from pydicom.data import get_testdata_file
        path = get_testdata_file('RG1_UNCI.dcm', download=False)
    except Exception as e:  # pydicom-data missing, or the file would need a download
        pytest.skip(f'RG1_UNCI.dcm not available offline ({e})')
    if path is None:
        pytest.skip('RG1_UNCI.dcm not available offline (pydicom-data not installed?)')
    return path


@requires_pydicom
def test_real_monochrome1_chest_radiograph_is_inverted(real_monochrome1_radiograph):
    stored = pydicom.dcmread(real_monochrome1_radiograph).pixel_array
    assert stored.shape == (1955, 1841)
    img = read_xray(real_monochrome1_radiograph)
    assert_gray3(img, 1955, 1841)
    gray = img[..., 0]
    # Inversion, pixel by pixel: the output falls as the stored value rises.
    correlation = np.corrcoef(stored[::8, ::8].ravel(), gray[::8, ::8].ravel())[0, 1]
    assert correlation < -0.99
    # Anatomy: the lung fields (air) are darker than the mediastinum (heart, spine) in the middle.
    height, width = gray.shape
    rows = slice(int(0.2 * height), int(0.45 * height))
    lungs = np.concatenate([gray[rows, int(0.2 * width):int(0.35 * width)].ravel(),
                            gray[rows, int(0.65 * width):int(0.8 * width)].ravel()])
    mediastinum = gray[int(0.3 * height):int(0.6 * height), int(0.46 * width):int(0.54 * width)]
    assert np.median(lungs) + 40 < np.median(mediastinum)
    # The window 15000/30000 covers the stored range, so nothing saturates and the range is wide.
    assert 0 < gray.min() < 64 and 192 < gray.max() < 255
