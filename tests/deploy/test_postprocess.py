"""The numpy anchors, box decoding and NMS of tbmm.deploy against mmdet's and mmcv's own (the
independent reference), and NMS on hand-made cases."""
import numpy as np
import pytest

from tbmm.deploy.postprocess import AnchorGrid, class_wise_nms, decode_boxes, nms
from tbmm.deploy.preprocess import pad_batch, resized_size

torch = pytest.importorskip('torch')


@pytest.mark.parametrize('settings', [
    dict(octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
         strides=[8, 16, 32, 64, 128]),
    dict(octave_base_scale=2, scales_per_octave=2, ratios=[0.25, 1.0], strides=[8, 16],
         center_offset=0.5),
    dict(scales=[1.0, 3.0], ratios=[1.0, 3.0], strides=[(8, 4)], scale_major=False),
])
def test_anchors_equal_mmdets_anchor_generator(settings):
    from mmdet.models.task_modules.prior_generators import AnchorGenerator

    generator = AnchorGenerator(**settings)
    grid = AnchorGrid(dict(strides=[list(s) for s in generator.strides],
                           base_sizes=generator.base_sizes, ratios=generator.ratios.tolist(),
                           scales=generator.scales.tolist(), scale_major=generator.scale_major,
                           center_offset=generator.center_offset))
    sizes = [(7, 5), (4, 3), (2, 2), (1, 1), (1, 1)][:len(generator.strides)]
    expected = generator.grid_priors(sizes, device='cpu')
    for level, size in enumerate(sizes):
        np.testing.assert_allclose(grid.level(level, size), expected[level].numpy(), atol=1e-4)


def test_box_decoding_equals_mmdets_delta_coder():
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

    rng = np.random.default_rng(0)
    anchors = np.sort(rng.uniform(0, 120, (200, 4)).astype(np.float32).reshape(200, 2, 2),
                      axis=1).transpose(0, 2, 1).reshape(200, 4)
    deltas = rng.normal(0, 1.5, (200, 4)).astype(np.float32)  # some dw, dh beyond the clip
    means, stds = [0.1, -0.1, 0.0, 0.2], [0.5, 0.5, 1.0, 1.0]
    coder = DeltaXYWHBBoxCoder(target_means=means, target_stds=stds)
    expected = coder.decode(torch.from_numpy(anchors), torch.from_numpy(deltas),
                            max_shape=(96, 128)).numpy()
    got = decode_boxes(anchors, deltas, means, stds, max_shape=(96, 128))
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert got[:, 2].max() <= 128 and got[:, 3].max() <= 96  # clipped to width and height


def test_class_wise_nms_equals_mmcvs_batched_nms():
    from mmcv.ops import batched_nms

    rng = np.random.default_rng(1)
    centres = rng.uniform(20, 100, (300, 2))
    sizes = rng.uniform(10, 40, (300, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1).astype(np.float32)
    scores = rng.permutation(300).astype(np.float32) / 300 + 0.001  # distinct scores
    labels = rng.integers(0, 4, 300)
    _, expected = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                              torch.from_numpy(labels), dict(type='nms', iou_threshold=0.5))
    got = class_wise_nms(boxes, scores, labels, 0.5)
    assert got.tolist() == expected.tolist()


def test_identical_boxes_of_different_classes_both_stay():
    boxes = np.array([[10, 10, 50, 50], [10, 10, 50, 50], [11, 11, 50, 50]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    labels = np.array([0, 2, 0])
    assert class_wise_nms(boxes, scores, labels, 0.5).tolist() == [0, 1]


def test_nms_keeps_a_box_at_exactly_the_iou_threshold():
    # IoU of these two is 1/3 exactly: suppressed only when strictly above the threshold.
    boxes = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 1 / 3 + 1e-6).tolist() == [0, 1]
    assert nms(boxes, scores, 0.3).tolist() == [0]


def test_resize_size_and_padding_follow_mmcv_and_mmengine():
    import mmcv
    from mmengine.model.utils import stack_batch

    for width, height in [(160, 112), (1000, 1023), (97, 301), (2048, 2500)]:
        image = np.zeros((height, width), np.uint8)
        resized = mmcv.imrescale(image, (128, 128))
        assert resized_size(width, height, (128, 128)) == (resized.shape[1], resized.shape[0])
    images = [np.ones((3, 90, 128), np.float32), np.full((3, 100, 70), 2, np.float32)]
    expected = stack_batch([torch.from_numpy(a) for a in images], pad_size_divisor=32)
    np.testing.assert_array_equal(pad_batch(images, 32, 0.0), expected.numpy())
