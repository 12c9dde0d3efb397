"""tbmm.models.test_time_augs: weighted boxes fusion of views, class by class, and the TTA model
that flips a view's boxes back before fusing."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHANTOM = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'phantom', 'retinanet_r18_fpn_phantom.py')


def test_fusion_keeps_identical_boxes_of_different_classes():
    from tbmm.models.test_time_augs import fuse_views

    box = [10, 10, 50, 50]
    view = (np.array([box, box]), np.array([0.8, 0.6]), np.array([0, 2]))
    boxes, scores, labels = fuse_views([view, view], (100, 100))
    assert sorted(labels.tolist()) == [0, 2]
    np.testing.assert_allclose(boxes, [box, box], atol=1e-4)
    np.testing.assert_allclose(scores, [0.8, 0.6], atol=1e-6)


def test_fusion_averages_agreeing_views_and_halves_a_box_one_view_missed():
    from tbmm.models.test_time_augs import fuse_views

    first = (np.array([[10, 10, 50, 50], [60, 60, 90, 90]]), np.array([0.9, 0.4]),
             np.array([1, 1]))
    second = (np.array([[12, 10, 52, 50]]), np.array([0.9]), np.array([1]))
    boxes, scores, labels = fuse_views([first, second], (100, 100))
    np.testing.assert_allclose(boxes[0], [11, 10, 51, 50], atol=1e-3)
    np.testing.assert_allclose(scores, [0.9, 0.2], atol=1e-6)
    assert labels.tolist() == [1, 1]
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    boxes, scores, labels = fuse_views([empty, empty], (100, 100))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)


class _MirrorAwareDetector(torch.nn.Module):
    """Stands in for a detector that finds one lesion at ``BOX`` (original pixels) in any view:
    on a flipped view it reports the mirrored box, as a real detector's output then is."""

    BOX = (10.0, 20.0, 30.0, 50.0)

    def test_step(self, data):
        from mmengine.structures import InstanceData

        out = []
        for sample in data['data_samples']:
            width = sample.metainfo['ori_shape'][1]
            x1, y1, x2, y2 = self.BOX
            if sample.metainfo['flip']:
                x1, x2 = width - x2, width - x1
            pred = InstanceData()
            pred.bboxes = torch.tensor([[x1, y1, x2, y2]])
            pred.scores = torch.tensor([0.6 if sample.metainfo['flip'] else 0.8])
            pred.labels = torch.tensor([3])
            sample.pred_instances = pred
            out.append(sample)
        return out


def test_tta_model_undoes_the_flip_before_fusing(tmp_path):
    from tbmm.apis.inference import build_inference_pipeline, iter_predictions
    from tbmm.apis.runner import load_config
    from tbmm.models.test_time_augs import WBFTTAModel

    image = np.zeros((80, 120), np.uint8)  # not square, so a flip about the wrong size shows
    cv2.imwrite(str(tmp_path / 'x.png'), image)
    cfg = load_config(PHANTOM)
    pipeline = build_inference_pipeline(cfg, tta=True)
    model = WBFTTAModel(module=_MirrorAwareDetector())
    (result, ) = list(iter_predictions(model, [str(tmp_path / 'x.png')], pipeline=pipeline))
    assert result.error is None
    pred = result.sample.pred_instances
    np.testing.assert_allclose(pred.bboxes.numpy(), [_MirrorAwareDetector.BOX], atol=1e-3)
    assert pred.scores.tolist() == pytest.approx([0.7])  # mean of the two views
    assert pred.labels.tolist() == [3]
    assert result.sample.metainfo['flip'] is False  # the merged sample is the unflipped view
