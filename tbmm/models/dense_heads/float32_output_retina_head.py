"""RetinaHead whose outputs are float32 whatever precision its convolutions ran in."""
from mmdet.registry import MODELS

from tbmm.models.dense_heads.multi_label_retina_head import MultiLabelRetinaHead


@MODELS.register_module()
class Float32OutputRetinaHead(MultiLabelRetinaHead):
    """``MultiLabelRetinaHead`` returning float32 score and box-delta maps.

    Under autocast the head's convolutions give bfloat16/float16 maps; mmdet's ``predict_by_feat``
    then generates the anchors in that dtype and decodes boxes in it, and bfloat16 has a step of
    4-8 px between 512 and 1024 px. Casting the (small) output maps keeps decoding, NMS and the
    losses in float32 while the convolutions keep the fast dtype. Same arguments as ``RetinaHead``.
    """

    def forward_single(self, x):
        cls_score, bbox_pred = super().forward_single(x)
        return cls_score.float(), bbox_pred.float()
