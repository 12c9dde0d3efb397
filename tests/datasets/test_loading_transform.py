"""LoadXRayImageFromFile: a registered LoadImageFromFile that reads X-rays with read_xray."""
import cv2
import numpy as np
import pytest

from tbmm.datasets.image_io import ImageReadError, read_xray
from tbmm.datasets.transforms import LoadXRayImageFromFile


@pytest.fixture
def png16(tmp_path):
    """A 12-bit ramp in a 16-bit PNG, 30 x 50: mmcv's loader would make it nearly black."""
    pixels = np.tile(np.linspace(0, 4095, 50), (30, 1)).astype(np.uint16)
    path = tmp_path / 'ramp16.png'
    cv2.imwrite(str(path), pixels)
    return path


def test_is_registered_and_builds_from_a_config_dict():
    from mmcv.transforms import LoadImageFromFile
    from mmdet.registry import TRANSFORMS
    loader = TRANSFORMS.build(dict(type='LoadXRayImageFromFile', to_float32=True))
    assert isinstance(loader, LoadXRayImageFromFile) and isinstance(loader, LoadImageFromFile)
    assert loader.to_float32 and loader.channels == 3


def test_loads_a_16bit_png_into_img_and_shapes(png16):
    results = LoadXRayImageFromFile()({'img_path': str(png16), 'img_id': 7})
    img = results['img']
    assert img.shape == (30, 50, 3) and img.dtype == np.uint8
    assert results['img_shape'] == (30, 50) and results['ori_shape'] == (30, 50)
    assert results['img_id'] == 7  # other keys pass through
    assert img.min() == 0 and img.max() == 255
    assert np.array_equal(img, read_xray(png16))


def test_one_channel_and_float32(png16):
    gray = LoadXRayImageFromFile(channels=1)({'img_path': str(png16)})['img']
    assert gray.shape == (30, 50) and gray.dtype == np.uint8
    assert LoadXRayImageFromFile(color_type='grayscale').channels == 1
    as_float = LoadXRayImageFromFile(to_float32=True)({'img_path': str(png16)})['img']
    assert as_float.dtype == np.float32 and as_float.shape == (30, 50, 3)
    with pytest.raises(ValueError, match='channels'):
        LoadXRayImageFromFile(channels=2)


def test_bytes_through_a_file_backend_match_the_local_read(png16):
    loader = LoadXRayImageFromFile(backend_args=dict(backend='local'))
    assert np.array_equal(loader({'img_path': str(png16)})['img'], read_xray(png16))


def test_unreadable_image_raises_with_the_file_name_unless_ignore_empty(tmp_path):
    path = tmp_path / 'broken.png'
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + b'\x00' * 20)
    with pytest.raises(ImageReadError, match='broken.png: corrupt or truncated PNG'):
        LoadXRayImageFromFile()({'img_path': str(path)})
    with pytest.raises(ImageReadError, match='gone.png: no such file'):
        LoadXRayImageFromFile()({'img_path': str(tmp_path / 'gone.png')})
    assert LoadXRayImageFromFile(ignore_empty=True)({'img_path': str(path)}) is None


def test_repr_names_the_channels():
    assert 'channels=1' in repr(LoadXRayImageFromFile(channels=1))
