"""Sigmoid focal loss that always runs in float32, also under autocast."""
import torch
from mmdet.registry import MODELS

from tbmm.models.losses.multi_label_focal_loss import MultiLabelFocalLoss


@MODELS.register_module()
class Float32FocalLoss(MultiLabelFocalLoss):
    """``MultiLabelFocalLoss`` (mmdet's ``FocalLoss`` that also takes label sets) with the
    prediction cast to float32 and autocast off inside.

    On CUDA, ``FocalLoss`` calls mmcv's ``sigmoid_focal_loss`` kernel, which has no bfloat16
    version ("not implemented for 'BFloat16'"); under float16 the ``(1 - p) ** gamma`` of confident
    anchors underflows. The loss is a tiny part of the step, so float32 costs nothing measurable.
    Same arguments as ``FocalLoss``.
    """

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        if weight is not None and weight.is_floating_point():
            weight = weight.float()
        with torch.autocast(device_type=pred.device.type, enabled=False):
            return super().forward(pred.float(), target, weight, avg_factor=avg_factor,
                                   reduction_override=reduction_override)
