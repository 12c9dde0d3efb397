"""Sigmoid focal loss that also takes label-set codes (several classes on one anchor)."""
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS

from tbmm.models.utils.label_sets import decode_label_sets


@MODELS.register_module()
class MultiLabelFocalLoss(FocalLoss):
    """mmdet's ``FocalLoss`` whose integer targets may be label-set codes (``tbmm.models.utils``).

    A batch with a code (a box of several classes) is decoded to a multi-hot target, which mmdet's
    ``FocalLoss`` takes as is (its PyTorch path); any other batch goes to ``FocalLoss`` untouched,
    so single-label data keeps mmcv's CUDA kernel. Same arguments as ``FocalLoss``.
    """

    #: The heads that merge identical boxes check for this before sending codes.
    reads_label_sets = True

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        num_classes = pred.size(-1)
        # One host sync on CUDA; the single-label case then keeps the faster kernel.
        if (self.use_sigmoid and not self.activated and target.dim() == pred.dim() - 1
                and bool((target > num_classes).any())):
            target = decode_label_sets(target, num_classes)
        return super().forward(pred, target, weight, avg_factor=avg_factor,
                               reduction_override=reduction_override)
