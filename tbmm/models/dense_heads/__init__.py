from tbmm.models.dense_heads.batched_retina_head import BatchedRetinaHead
from tbmm.models.dense_heads.batched_targets_retina_head import BatchedTargetsRetinaHead
from tbmm.models.dense_heads.float32_output_retina_head import Float32OutputRetinaHead
from tbmm.models.dense_heads.multi_label_retina_head import MultiLabelRetinaHead

__all__ = ['BatchedRetinaHead', 'BatchedTargetsRetinaHead', 'Float32OutputRetinaHead',
           'MultiLabelRetinaHead']
