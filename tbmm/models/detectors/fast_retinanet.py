"""RetinaNet with channels-last memory format, folded frozen BatchNorm and optional
torch.compile."""
import functools

import torch
from mmdet.models.detectors import RetinaNet
from mmdet.registry import MODELS

from tbmm.models.layers import fold_frozen_batchnorm


@MODELS.register_module()
class FastRetinaNet(RetinaNet):
    """mmdet's ``RetinaNet`` with speed options; same weights and checkpoints.

    Args:
        channels_last: keep 4-D weights and the input batch in ``torch.channels_last``, the layout
            cuDNN's tensor-core kernels and oneDNN's (AMX) CPU kernels run natively; with NCHW
            they transpose around each convolution.
        fold_frozen_bn: apply each eval-mode BatchNorm of the backbone (``norm_eval=True``, mmdet's
            default) through the weight and bias of the convolution before it, recomputed every
            forward: the same function and gradients without BN's passes over the activations
            (``tbmm.models.layers.folded_batchnorm``). BNs in training mode run as usual.
        compile: wrap backbone, neck and head forward in ``torch.compile`` (``True`` or a dict of
            ``torch.compile`` arguments). The first iterations compile (minutes); pays on long
            runs with a fixed input size only.
        **kwargs: ``RetinaNet``'s arguments.
    """

    def __init__(self, *args, channels_last=True, fold_frozen_bn=False, compile=False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if fold_frozen_bn:
            fold_frozen_batchnorm(self.backbone)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        if compile:
            options = compile if isinstance(compile, dict) else {}
            # Only the convolutional parts: the heads' target assignment and NMS are dynamic.
            for part in (self.backbone, self.neck, self.bbox_head):
                # The class's forward compiled and bound by a partial: a deep copy of the model
                # (MMEngine's EMA and averaged models) then calls its own copy, where a compiled
                # bound method would still run this model's weights.
                part.forward = functools.partial(torch.compile(type(part).forward, **options),
                                                 part)

    def init_weights(self):
        super().init_weights()
        if self.channels_last:  # an initialiser may have replaced a tensor with a contiguous one
            self.to(memory_format=torch.channels_last)

    def extract_feat(self, batch_inputs):
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(memory_format=torch.channels_last)
        return super().extract_feat(batch_inputs)
