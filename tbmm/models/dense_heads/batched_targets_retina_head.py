"""RetinaHead whose training targets are computed for the whole batch at once, without host
syncs."""
import torch
from mmdet.models.task_modules.assigners import MaxIoUAssigner
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.registry import MODELS
from mmdet.structures.bbox import cat_boxes, get_box_tensor

from tbmm.models.dense_heads.float32_output_retina_head import Float32OutputRetinaHead
from tbmm.models.utils.label_sets import merge_identical_boxes


@MODELS.register_module()
class BatchedTargetsRetinaHead(Float32OutputRetinaHead):
    """``Float32OutputRetinaHead`` with mmdet's ``MaxIoUAssigner`` + ``PseudoSampler`` targets,
    batched.

    mmdet assigns anchors image by image (``multi_apply`` over ``_get_targets_single``), and each
    image's assignment and sampling wait for the GPU several times (``nonzero``, boolean indexing,
    ``numel``). On an H200 that was a third of an R-101 training step at batch 16, with the GPU
    idle (docs/benchmarks.md). Here the ground truth boxes are padded to one ``(B, G, 4)`` tensor
    and the same rules run on ``(B, G, A)`` IoUs in a few batched operations: negatives below
    ``neg_iou_thr``, positives from ``pos_iou_thr``, then each box's best anchors (all ties, the
    later box winning, as mmdet's loop does), and ``avg_factor`` stays a tensor. The targets equal
    mmdet's (``tests/models/test_batched_targets_retina_head.py``). Identical boxes are merged into
    one with their label set, as in ``MultiLabelRetinaHead``, by masking instead of removing.

    Configurations this does not cover fall back to mmdet's per-image code: another assigner or
    sampler, ``neg_iou_thr`` as a range, ``gt_max_assign_all=False``, ignored boxes with
    ``ignore_iof_thr > 0``, ``gpu_assign_thr > 0``, ``perm_repeat_gt_cfg``, and callers asking for
    the sampling results. Not kept: ``_raw_positive_infos`` (used by heads with masks, not here).
    """

    def get_targets(self, anchor_list, valid_flag_list, batch_gt_instances, batch_img_metas,
                    batch_gt_instances_ignore=None, unmap_outputs=True,
                    return_sampling_results=False):
        if not self._batchable(batch_gt_instances_ignore, return_sampling_results):
            return super().get_targets(anchor_list, valid_flag_list, batch_gt_instances,
                                       batch_img_metas, batch_gt_instances_ignore, unmap_outputs,
                                       return_sampling_results)
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        anchors = torch.stack([get_box_tensor(cat_boxes(levels)) for levels in anchor_list])
        inside = torch.stack([torch.cat(flags) for flags in valid_flag_list])
        if self.train_cfg['allowed_border'] >= 0:
            inside = torch.stack([
                anchor_inside_flags(image_anchors, image_inside, meta['img_shape'][:2],
                                    self.train_cfg['allowed_border'])
                for image_anchors, image_inside, meta in zip(anchors, inside, batch_img_metas)])
        gt_boxes, gt_labels, gt_valid = _pad_ground_truth(batch_gt_instances, anchors)
        gt_labels, gt_valid = merge_identical_boxes(gt_boxes, gt_labels, gt_valid,
                                                    self.num_classes)
        assigned = self._assign(anchors, inside, gt_boxes, gt_valid)  # 0: negative, -1: neither

        positive = (assigned > 0) & inside
        negative = (assigned == 0) & inside
        gt_index = (assigned - 1).clamp(min=0)
        matched_boxes = gt_boxes.gather(1, gt_index.unsqueeze(-1).expand(-1, -1, 4))
        matched_labels = gt_labels.gather(1, gt_index)
        if self.reg_decoded_bbox:
            targets = matched_boxes
        else:
            targets = self.bbox_coder.encode(anchors.reshape(-1, 4),
                                             matched_boxes.reshape(-1, 4)).reshape(anchors.shape)
        # torch.where, not a product: the deltas of unmatched anchors can be inf (empty images).
        bbox_targets = torch.where(positive.unsqueeze(-1), targets, targets.new_zeros(()))
        bbox_weights = positive.unsqueeze(-1).expand_as(bbox_targets).to(bbox_targets.dtype)
        labels = torch.where(positive, matched_labels,
                             matched_labels.new_full((), self.num_classes))
        pos_weight = self.train_cfg['pos_weight']
        label_weights = (positive.float() * (1.0 if pos_weight <= 0 else pos_weight)
                         + negative.float())
        # mmdet's PseudoSampler counts max(positives, 1) per image. A tensor: an int would wait for
        # the GPU.
        avg_factor = positive.sum(dim=1).clamp(min=1).sum().float()

        def levels(tensor):
            return list(torch.split(tensor, num_level_anchors, dim=1))

        return (levels(labels), levels(label_weights), levels(bbox_targets), levels(bbox_weights),
                avg_factor)

    def _batchable(self, batch_gt_instances_ignore, return_sampling_results):
        assigner = self.assigner
        if (return_sampling_results or type(assigner) is not MaxIoUAssigner
                or not isinstance(self.sampler, PseudoSampler)):
            return False
        if not isinstance(assigner.neg_iou_thr, (int, float)) or not assigner.gt_max_assign_all:
            return False
        if assigner.gpu_assign_thr > 0 or assigner.perm_repeat_gt_cfg is not None:
            return False
        if assigner.ignore_iof_thr > 0 and batch_gt_instances_ignore is not None and any(
                ignore is not None and len(ignore) > 0 for ignore in batch_gt_instances_ignore):
            return False
        return True

    def _assign(self, anchors, inside, gt_boxes, gt_valid):
        """``MaxIoUAssigner.assign_wrt_overlaps`` for a batch: (B, A) gt index + 1, 0 or -1."""
        assigner = self.assigner
        overlaps = assigner.iou_calculator(gt_boxes, anchors)  # (B, G, A)
        # Padded boxes and anchors outside the image take part in nothing (mmdet never sees
        # them); IoUs are >= 0, so -1 loses every max.
        usable = gt_valid.unsqueeze(-1) & inside.unsqueeze(1)
        overlaps = overlaps.masked_fill(~usable, -1)
        max_overlaps, argmax_overlaps = overlaps.max(dim=1)  # per anchor: first best box
        gt_max_overlaps = overlaps.max(dim=2).values  # per box, over the usable anchors

        # torch.where throughout: boolean-mask indexing would wait for the GPU (nonzero).
        negative = (max_overlaps >= 0) & (max_overlaps < assigner.neg_iou_thr)
        assigned = torch.where(negative, 0, -1)
        assigned = torch.where(max_overlaps >= assigner.pos_iou_thr, argmax_overlaps + 1,
                               assigned)
        if assigner.match_low_quality:
            # mmdet loops over the boxes in order, each taking all anchors at its own best IoU;
            # a later box overwrites an earlier one: the highest matching box index wins.
            best_of_box = ((overlaps == gt_max_overlaps.unsqueeze(-1))
                           & (gt_max_overlaps >= assigner.min_pos_iou).unsqueeze(-1) & usable)
            box_numbers = torch.arange(1, overlaps.size(1) + 1, device=overlaps.device)
            last_box = (best_of_box * box_numbers.view(1, -1, 1)).amax(dim=1)
            assigned = torch.where(last_box > 0, last_box, assigned)
        # An image without boxes: every anchor is a negative (mmdet's num_gts == 0 case).
        has_boxes = gt_valid.any(dim=1, keepdim=True)
        return torch.where(has_boxes, assigned, torch.zeros_like(assigned))


def _pad_ground_truth(batch_gt_instances, anchors):
    """(B, G, 4) boxes, (B, G) labels and (B, G) validity, G the most boxes of an image (>= 1)."""
    num_imgs = len(batch_gt_instances)
    most = max([len(instances) for instances in batch_gt_instances] + [1])
    boxes = anchors.new_zeros(num_imgs, most, 4)
    labels = torch.zeros(num_imgs, most, dtype=torch.long, device=anchors.device)
    valid = torch.zeros(num_imgs, most, dtype=torch.bool, device=anchors.device)
    for i, instances in enumerate(batch_gt_instances):
        count = len(instances)
        if count:
            boxes[i, :count] = get_box_tensor(instances.bboxes).to(boxes.dtype)
            labels[i, :count] = instances.labels
            valid[i, :count] = True
    return boxes, labels, valid
