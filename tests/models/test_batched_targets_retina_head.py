"""BatchedTargetsRetinaHead computes exactly the targets and losses of mmdet's RetinaHead (with
identical boxes merged into one with their label set: MultiLabelRetinaHead), batched."""
import copy

import pytest
import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.structures import InstanceData

from tbmm.models.dense_heads import BatchedTargetsRetinaHead, MultiLabelRetinaHead
from tbmm.models.utils import decode_label_sets

IMAGE = 256
STRIDES = [8, 16, 32, 64, 128]


def head_cfg(train_options=None, **assigner):
    cfg = Config.fromfile('configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py')
    head = copy.deepcopy(cfg.model.bbox_head.to_dict())
    head.update(in_channels=8, feat_channels=8, stacked_convs=1)
    head.pop('type')
    train_cfg = copy.deepcopy(cfg.model.train_cfg.to_dict())
    train_cfg['assigner'].update(assigner)
    train_cfg.update(train_options or {})
    return dict(head, train_cfg=train_cfg, test_cfg=copy.deepcopy(cfg.model.test_cfg))


def make_heads(train_options=None, **assigner):
    torch.manual_seed(0)
    reference = MultiLabelRetinaHead(**head_cfg(train_options, **assigner))
    batched = BatchedTargetsRetinaHead(**head_cfg(train_options, **assigner))
    batched.load_state_dict(reference.state_dict())
    return reference, batched


def instances(boxes, labels):
    data = InstanceData()
    data.bboxes = HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    data.labels = torch.tensor(labels, dtype=torch.long)
    return data


def metas(num):
    return [dict(img_shape=(IMAGE, IMAGE), pad_shape=(IMAGE, IMAGE),
                 batch_input_shape=(IMAGE, IMAGE))
            for _ in range(num)]


def outputs(head, num_imgs, seed=0):
    generator = torch.Generator().manual_seed(seed)
    feats = [torch.randn(num_imgs, 8, IMAGE // s, IMAGE // s, generator=generator) for s in STRIDES]
    with torch.no_grad():
        return head(feats)


def targets(head, gts):
    featmap_sizes = [(IMAGE // s, IMAGE // s) for s in STRIDES]
    anchor_list, valid_list = head.get_anchors(featmap_sizes, metas(len(gts)), device='cpu')
    return head.get_targets(anchor_list, valid_list, gts, metas(len(gts)))


def assert_same_targets(reference, batched, gts):
    expected, got = targets(reference, gts), targets(batched, gts)
    for want_levels, got_levels in zip(expected[:4], got[:4]):
        for want, have in zip(want_levels, got_levels):
            assert want.dtype == have.dtype and want.shape == have.shape
            assert torch.equal(want, have)
    assert int(got[4]) == expected[4]  # the number of positive anchors


EDGE_CASES = [
    # small (low-quality matches only), medium and large boxes
    instances([[100, 100, 110, 112], [30, 40, 90, 120], [0, 0, 250, 200]], [6, 3, 2]),
    # identical boxes with two classes (Consolidation + Effusion), as in the real data
    instances([[40, 60, 140, 180], [40, 60, 140, 180], [150, 20, 200, 60]], [0, 2, 4]),
    instances([], []),  # a negative image
    instances([[230, 230, 256, 256]], [8]),  # at the corner
]


def test_edge_cases_give_mmdets_targets_and_losses():
    reference, batched = make_heads()
    assert_same_targets(reference, batched, EDGE_CASES)
    cls_scores, bbox_preds = outputs(reference, len(EDGE_CASES))
    want = reference.loss_by_feat(cls_scores, bbox_preds, EDGE_CASES, metas(len(EDGE_CASES)))
    got = batched.loss_by_feat(cls_scores, bbox_preds, EDGE_CASES, metas(len(EDGE_CASES)))
    for key in ('loss_cls', 'loss_bbox'):
        for want_level, got_level in zip(want[key], got[key]):
            torch.testing.assert_close(got_level, want_level, rtol=1e-6, atol=1e-7)


def test_identical_boxes_with_two_classes_give_their_anchors_both_classes():
    _, batched = make_heads()
    labels = torch.cat(targets(batched, [EDGE_CASES[1]])[0], dim=1)[0]
    positives = decode_label_sets(labels[labels != batched.num_classes], batched.num_classes)
    both = (positives[:, 0] == 1) & (positives[:, 2] == 1)
    alone = positives[:, 4] == 1  # the third, separate box
    assert both.sum() > 0 and alone.sum() > 0
    # every positive anchor is the shared box's (both classes) or the other box's (Mass only)
    assert torch.equal(both | alone, torch.ones_like(both))
    assert positives[alone].sum(-1).eq(1).all()


def random_gts(seed):
    """Three images of 0-6 seeded random boxes of random classes, in whole pixels (as annotations
    are: more exact ties between anchors' IoUs)."""
    generator = torch.Generator().manual_seed(seed)
    gts = []
    for _ in range(3):
        count = int(torch.randint(0, 7, (1, ), generator=generator))
        corner = torch.rand(count, 2, generator=generator) * (IMAGE - 8)
        size = 4 + torch.rand(count, 2, generator=generator) ** 2 * IMAGE * 0.8
        boxes = torch.cat([corner, (corner + size).clamp(max=IMAGE)], dim=1)
        gts.append(instances(boxes.round().tolist(),
                             torch.randint(0, 9, (count, ), generator=generator).tolist()))
    return gts


@pytest.mark.parametrize('seed', range(12))
def test_random_batches_give_mmdets_targets(seed):
    reference, batched = make_heads()
    assert_same_targets(reference, batched, random_gts(seed))


@pytest.mark.parametrize('train_options,assigner', [
    (dict(allowed_border=0), {}),  # anchors crossing the image border take no part
    (dict(pos_weight=2.0), {}),
    ({}, dict(pos_iou_thr=0.6, neg_iou_thr=0.3, min_pos_iou=0.2)),
    ({}, dict(match_low_quality=False)),
])
def test_other_train_settings_give_mmdets_targets(train_options, assigner):
    reference, batched = make_heads(train_options, **assigner)
    assert batched._batchable(None, False)
    assert_same_targets(reference, batched, EDGE_CASES)


def test_assigner_options_it_does_not_batch_fall_back_to_mmdet():
    reference, batched = make_heads(gt_max_assign_all=False)
    assert not batched._batchable(None, False)
    assert_same_targets(reference, batched, EDGE_CASES)
    _, default = make_heads()
    assert default._batchable(None, False)
    assert not default._batchable(None, True)  # sampling results asked for


HOST_SYNC_OPS = {'aten::nonzero', 'aten::item', 'aten::_local_scalar_dense', 'aten::is_nonzero',
                 'aten::_unique2', 'aten::unique_dim'}


def sync_ops_in_get_targets(head):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        targets(head, EDGE_CASES)
    return {event.key: event.count for event in prof.key_averages()
            if event.key in HOST_SYNC_OPS}


def test_batched_targets_use_no_op_that_waits_for_the_gpu():
    # On a GPU each of these copies a result to the host and waits for the device; mmdet's
    # per-image assignment uses them (the check can see them), the batched one none.
    reference, batched = make_heads()
    assert sync_ops_in_get_targets(reference)
    assert sync_ops_in_get_targets(batched) == {}


def make_predict_heads():
    from tbmm.models.dense_heads import BatchedRetinaHead
    torch.manual_seed(0)
    reference = RetinaHead(**head_cfg())
    batched = BatchedRetinaHead(**head_cfg())
    batched.load_state_dict(reference.state_dict())
    return reference, batched


@pytest.mark.parametrize('seed', range(3))
def test_batched_prediction_gives_mmdets_detections(seed):
    reference, batched = make_predict_heads()
    generator = torch.Generator().manual_seed(seed)
    # logits around the score threshold: thousands of candidates, nms_pre (1000) binds on P3
    cls_scores = [torch.randn(3, 81, IMAGE // s, IMAGE // s, generator=generator) * 2 - 3
                  for s in STRIDES]
    bbox_preds = [torch.randn(3, 36, IMAGE // s, IMAGE // s, generator=generator) * 0.3
                  for s in STRIDES]
    cls_scores[1][1] = -20  # image 1 has nothing above the threshold on P4
    cls_scores_empty = [c.clone() for c in cls_scores]
    for c in cls_scores_empty:
        c[2] = -20  # image 2: no detection at all
    image_metas = [dict(meta, scale_factor=(0.5, 0.5)) for meta in metas(3)]
    for scores in (cls_scores, cls_scores_empty):
        want = reference.predict_by_feat(scores, bbox_preds, batch_img_metas=image_metas,
                                         rescale=True)
        got = batched.predict_by_feat(scores, bbox_preds, batch_img_metas=image_metas,
                                      rescale=True)
        for want_image, got_image in zip(want, got):
            assert len(want_image) == len(got_image)
            for key in ('bboxes', 'scores', 'labels'):
                assert torch.equal(want_image[key], got_image[key]), key
    assert len(got[2]) == 0 and got[2].bboxes.shape == (0, 4)
    assert len(want[0]) == 100  # max_per_img reached: the comparison is not vacuous


def test_batched_prediction_waits_for_the_gpu_twice_per_batch():
    from torch.profiler import ProfilerActivity, profile
    reference, batched = make_predict_heads()
    cls_scores, bbox_preds = outputs(reference, 4)

    # without mmdet's box-size filter and NMS, which come after the candidates and are the same
    cfg = copy.deepcopy(reference.test_cfg)
    cfg.min_bbox_size = -1

    def nonzeros(head):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas(4), cfg=cfg,
                                 with_nms=False)
        return sum(event.count for event in prof.key_averages() if event.key == 'aten::nonzero')

    assert nonzeros(reference) >= 4 * len(STRIDES)
    assert nonzeros(batched) == 1
