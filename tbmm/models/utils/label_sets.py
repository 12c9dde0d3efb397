"""Several classes on one box, carried through mmdet's single-label targets as one integer.

In ChestX-Det the same box often carries two or more findings: 498 box positions of ``train.json``
hold several classes, 352 of them Consolidation and Effusion (293 exactly these two;
``tools/analysis_tools/dataset_stats.py``, docs/records/chestxdet_annotation_counts.txt).
mmdet's assigner gives each anchor one ground-truth box and its one label, so the anchors of a box
labelled twice are split (IoU ties go to the first label, each box's best anchors to the last),
and each class is trained as *absent* on the
other's anchors, right where it was annotated. Here the boxes that are identical are
merged into one box whose label is the *set* of their classes, encoded in one integer so it flows
through mmdet's target code unchanged (``labels[pos_inds] = gt_labels[...]``):

* ``0 .. C-1``: one class (as before: single-label data is untouched),
* ``C``: background (mmdet's convention),
* ``C + bits``: a set of two or more classes, class ``k`` in it when bit ``k`` of ``bits`` is set.

The loss (:class:`tbmm.models.losses.MultiLabelFocalLoss`) decodes the code into a multi-hot
target, so the sigmoid focal loss trains each class of a shared box as present.
"""
import torch
from mmdet.structures.bbox import get_box_tensor

#: Bits of an int64 code a label set may use (``C + 2**C - 1`` must fit).
MAX_LABEL_SET_CLASSES = 62


def check_label_set_classes(num_classes):
    """Refuse more classes than one int64 label-set code can hold (``ValueError``)."""
    if num_classes > MAX_LABEL_SET_CLASSES:
        raise ValueError(f'label sets encode at most {MAX_LABEL_SET_CLASSES} classes in one int64, '
                         f'got num_classes={num_classes}')


def encode_label_sets(multi_hot):
    """(..., C) bool -> (...,) int64 codes: the class where one is set, ``C + bits`` for more."""
    num_classes = multi_hot.size(-1)
    bit_values = torch.ones((), dtype=torch.long, device=multi_hot.device) << torch.arange(
        num_classes, device=multi_hot.device)
    bits = (multi_hot.long() * bit_values).sum(-1)
    single = multi_hot.long().argmax(-1)
    return torch.where(multi_hot.sum(-1) > 1, num_classes + bits, single)


def decode_label_sets(codes, num_classes):
    """(N,) codes (``num_classes`` = background) -> (N, C) multi-hot, int64."""
    classes = torch.arange(num_classes, device=codes.device)
    one_class = codes.unsqueeze(-1) == classes
    bits = (codes - num_classes).clamp(min=0).unsqueeze(-1) >> classes
    return (one_class | (bits & 1).bool()).long()


def merge_identical_boxes(boxes, labels, valid, num_classes):
    """Merge the identical boxes of each image: ``(B, G, 4)`` boxes, ``(B, G)`` labels and validity
    in; ``(B, G)`` label codes and validity out (the boxes stay as they are).

    The first of a group of identical valid boxes stays valid and takes the code of the group's
    classes; the others become invalid. Order and positions are kept (mmdet's assigner breaks ties
    by box order) and nothing waits for the GPU.
    """
    same = (boxes.unsqueeze(2) == boxes.unsqueeze(1)).all(-1)
    same &= valid.unsqueeze(2) & valid.unsqueeze(1)  # (B, G, G)
    # F.one_hot would wait for the GPU (it checks the labels' range)
    one_hot = labels.unsqueeze(-1) == torch.arange(num_classes, device=labels.device)
    multi_hot = torch.einsum('bij,bjc->bic', same.float(), one_hot.float()) > 0
    earlier = torch.ones(same.shape[-2:], dtype=torch.bool, device=same.device).tril(-1)
    duplicate = (same & earlier).any(-1)
    return encode_label_sets(multi_hot), valid & ~duplicate


def merge_identical_gt_instances(gt_instances, num_classes):
    """One image's ``InstanceData``: identical boxes merged into one with their label set."""
    if len(gt_instances) < 2:
        return gt_instances
    boxes = get_box_tensor(gt_instances.bboxes).unsqueeze(0)
    labels = gt_instances.labels.unsqueeze(0)
    valid = torch.ones_like(labels, dtype=torch.bool)
    codes, keep = merge_identical_boxes(boxes, labels, valid, num_classes)
    merged = gt_instances[keep[0]]
    merged.labels = codes[0][keep[0]]
    return merged
