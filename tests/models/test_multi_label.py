"""A box annotated with several classes trains all of them (label sets), and data without such
boxes trains exactly as with mmdet's RetinaHead and FocalLoss."""
import itertools

import pytest
import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.models.losses import FocalLoss
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

from tbmm.models.dense_heads import MultiLabelRetinaHead
from tbmm.models.losses import Float32FocalLoss, MultiLabelFocalLoss
from tbmm.models.utils import (
    decode_label_sets,
    encode_label_sets,
    merge_identical_boxes,
    merge_identical_gt_instances,
)
from tests.models.test_batched_targets_retina_head import (
    EDGE_CASES,
    head_cfg,
    instances,
    metas,
    outputs,
    targets,
)

C = 4


def test_every_label_set_round_trips_and_single_classes_keep_their_index():
    subsets = [s for n in range(1, C + 1) for s in itertools.combinations(range(C), n)]
    multi_hot = torch.zeros(len(subsets), C, dtype=torch.bool)
    for row, subset in enumerate(subsets):
        multi_hot[row, list(subset)] = True
    codes = encode_label_sets(multi_hot)
    assert len(set(codes.tolist())) == len(subsets)
    assert codes[:C].tolist() == list(range(C))  # one class: its index, as mmdet labels it
    assert (codes[C:] > C).all()  # never the background index C
    assert torch.equal(decode_label_sets(codes, C), multi_hot.long())
    assert decode_label_sets(torch.tensor([C]), C).sum() == 0  # background


def test_identical_boxes_merge_in_order_and_others_stay():
    gts = instances([[5, 5, 50, 50], [60, 60, 90, 90], [5, 5, 50, 50], [5, 5, 50, 50],
                     [60, 60, 90, 91]], [2, 1, 0, 2, 3])
    merged = merge_identical_gt_instances(gts, C)
    assert merged.bboxes.tensor.tolist() == [[5, 5, 50, 50], [60, 60, 90, 90], [60, 60, 90, 91]]
    assert decode_label_sets(merged.labels, C).tolist() == [[1, 0, 1, 0], [0, 1, 0, 0],
                                                            [0, 0, 0, 1]]


def test_padded_boxes_take_no_part_in_merging():
    boxes = torch.zeros(1, 3, 4)  # padding is all zeros, like the one real box here
    labels = torch.tensor([[1, 0, 0]])
    valid = torch.tensor([[True, False, False]])
    codes, still_valid = merge_identical_boxes(boxes, labels, valid, C)
    assert still_valid.tolist() == [[True, False, False]] and codes[0, 0] == 1


def test_the_head_refuses_a_loss_that_cannot_read_label_sets():
    cfg = head_cfg()
    cfg['loss_cls'] = dict(cfg['loss_cls'], type='FocalLoss')
    with pytest.raises(ValueError, match='MultiLabelFocalLoss'):
        MultiLabelRetinaHead(**cfg)


def _heads():
    torch.manual_seed(0)
    stock = RetinaHead(**dict(head_cfg(), loss_cls=dict(head_cfg()['loss_cls'], type='FocalLoss')))
    multi = MultiLabelRetinaHead(**head_cfg())
    multi.load_state_dict(stock.state_dict())
    return stock, multi


def test_without_shared_boxes_targets_and_losses_are_mmdets():
    stock, multi = _heads()
    gts = [EDGE_CASES[0], EDGE_CASES[2], EDGE_CASES[3]]
    for want_levels, got_levels in zip(targets(stock, gts)[:4], targets(multi, gts)[:4]):
        for want, got in zip(want_levels, got_levels):
            assert torch.equal(want, got)
    cls_scores, bbox_preds = outputs(stock, len(gts))
    want = stock.loss_by_feat(cls_scores, bbox_preds, gts, metas(len(gts)))
    got = multi.loss_by_feat(cls_scores, bbox_preds, gts, metas(len(gts)))
    for key in want:
        for want_level, got_level in zip(want[key], got[key]):
            torch.testing.assert_close(got_level, want_level, rtol=1e-6, atol=1e-7)


def test_a_shared_box_trains_both_classes_where_mmdet_trains_one():
    stock, multi = _heads()
    shared = [EDGE_CASES[1]]  # one box labelled 0 and 2 (Consolidation, Effusion), one 4 (Mass)
    stock_labels = torch.cat(targets(stock, shared)[0], dim=1)[0]
    multi_labels = torch.cat(targets(multi, shared)[0], dim=1)[0]
    assert torch.equal(stock_labels == stock.num_classes, multi_labels == multi.num_classes)
    stock_hot = decode_label_sets(stock_labels, 9)
    multi_hot = decode_label_sets(multi_labels, 9)
    # mmdet: no anchor has both classes (each is Consolidation's or Effusion's)
    assert not ((stock_hot[:, 0] == 1) & (stock_hot[:, 2] == 1)).any()
    # here: every anchor that mmdet gave to either class has both
    either = (stock_hot[:, 0] == 1) | (stock_hot[:, 2] == 1)
    assert either.sum() > 1
    assert ((multi_hot[either, 0] == 1) & (multi_hot[either, 2] == 1)).all()
    # the classification loss now differs from mmdet's; the box regression does not
    cls_scores, bbox_preds = outputs(stock, 1)
    want = stock.loss_by_feat(cls_scores, bbox_preds, shared, metas(1))
    got = multi.loss_by_feat(cls_scores, bbox_preds, shared, metas(1))
    assert not torch.allclose(sum(got['loss_cls']), sum(want['loss_cls']))
    torch.testing.assert_close(sum(got['loss_bbox']), sum(want['loss_bbox']))


@pytest.mark.parametrize('loss_type', [MultiLabelFocalLoss, Float32FocalLoss])
def test_loss_of_label_set_codes_is_the_focal_loss_of_their_multi_hot_target(loss_type):
    generator = torch.Generator().manual_seed(0)
    pred = torch.randn(6, C, generator=generator)
    codes = torch.tensor([0, 3, C, C + 0b0101, C + 0b1110, 2])
    weight = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    got = loss_type()(pred, codes, weight, avg_factor=3.0)
    multi_hot = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0],
                              [0, 1, 1, 1], [0, 0, 1, 0]], dtype=torch.float32)
    want = py_sigmoid_focal_loss(pred, multi_hot, weight, avg_factor=3.0)
    torch.testing.assert_close(got, want)
    # single labels: mmdet's FocalLoss exactly (its own path, mmcv's kernel on CUDA)
    single = torch.tensor([0, 3, C, 1, 2, 2])
    torch.testing.assert_close(loss_type()(pred, single, weight, avg_factor=3.0),
                               FocalLoss()(pred, single, weight, avg_factor=3.0))
