"""The renderer's grey scale against the standard's window formulas (PS3.3 C.11.2.1.2.1 LINEAR,
C.11.2.1.3.2 LINEAR_EXACT), written out here, and its INVERSE presentation LUT."""
import numpy as np
import pytest

pydicom = pytest.importorskip('pydicom')

from tbmm.dicom.render import apply_presentation_lut, windowed_gray  # noqa: E402


def _presentation_state(center, width, function=None, shape='IDENTITY'):
    item = pydicom.Dataset()
    item.WindowCenter = center
    item.WindowWidth = width
    if function:
        item.VOILUTFunction = function
    state = pydicom.Dataset()
    state.SoftcopyVOILUTSequence = [item]
    state.PresentationLUTShape = shape
    return state


def test_linear_window_follows_the_standard():
    values = np.arange(-50, 400, dtype=np.int32).reshape(15, 30)
    center, width = 150.0, 101.0
    x = values.astype(float)
    expected = np.where(x <= center - 0.5 - (width - 1) / 2, 0.0,
                        np.where(x > center - 0.5 + (width - 1) / 2, 255.0,
                                 ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0))
    np.testing.assert_allclose(windowed_gray(values, _presentation_state(center, width)),
                               expected, atol=1e-9)


def test_linear_exact_window_follows_the_standard():
    values = np.arange(0, 300, dtype=np.int32)
    center, width = 100.0, 200.0
    x = values.astype(float)
    expected = np.clip((x - (center - width / 2)) / width * 255.0, 0, 255)
    got = windowed_gray(values, _presentation_state(center, width, 'LINEAR_EXACT'))
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_inverse_flips_over_the_full_grey_scale():
    # A window whose brightest value stays below white: INVERSE maps 0 -> 255 and 200 -> 55 (not
    # over the image's own maximum, which would put 200 at 0).
    gray = np.array([[0.0, 100.0, 200.0]])
    inverted = apply_presentation_lut(gray, _presentation_state(128, 256, shape='INVERSE'))
    assert inverted.tolist() == [[255, 155, 55]]
    assert apply_presentation_lut(gray, _presentation_state(128, 256)).tolist() == [[0, 100, 200]]
