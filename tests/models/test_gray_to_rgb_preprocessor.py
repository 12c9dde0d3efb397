import numpy as np
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample

from tbmm.models.data_preprocessors import GrayToRGBDetDataPreprocessor

# RetinaNet's (mmdet's base config) normalisation: ImageNet RGB mean/std, BGR input.
SETTINGS = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                pad_size_divisor=32)


def _batch(images):
    samples = [DetDataSample(metainfo=dict(img_shape=tuple(i.shape[-2:]))) for i in images]
    return dict(inputs=list(images), data_samples=samples)


def _gray_images():
    rng = np.random.default_rng(0)
    return [torch.from_numpy(rng.integers(0, 256, (1, h, w), dtype=np.uint8))
            for h, w in ((70, 90), (64, 64))]


def test_one_channel_gives_the_three_channel_result():
    gray = _gray_images()
    expected = DetDataPreprocessor(**SETTINGS)(_batch([g.repeat(3, 1, 1) for g in gray]))
    actual = GrayToRGBDetDataPreprocessor(**SETTINGS)(_batch(gray))
    assert actual['inputs'].shape == (2, 3, 96, 96)
    torch.testing.assert_close(actual['inputs'], expected['inputs'], rtol=0, atol=0)
    for got, want in zip(actual['data_samples'], expected['data_samples']):
        assert got.batch_input_shape == want.batch_input_shape
        assert got.pad_shape == want.pad_shape


def test_three_channel_input_passes_unchanged_and_stacked_batches_work():
    gray = _gray_images()[1:]
    three = [g.repeat(3, 1, 1) for g in gray]
    expected = DetDataPreprocessor(**SETTINGS)(_batch(three))['inputs']
    torch.testing.assert_close(GrayToRGBDetDataPreprocessor(**SETTINGS)(_batch(three))['inputs'],
                               expected)
    stacked = dict(inputs=torch.stack(gray), data_samples=None)
    torch.testing.assert_close(GrayToRGBDetDataPreprocessor(**SETTINGS)(stacked)['inputs'],
                               expected)
