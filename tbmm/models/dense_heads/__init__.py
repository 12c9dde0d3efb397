from tbmm.models.dense_heads.batched_targets_retina_head import BatchedTargetsRetinaHead
from tbmm.models.dense_heads.float32_output_retina_head import Float32OutputRetinaHead

__all__ = ['BatchedTargetsRetinaHead', 'Float32OutputRetinaHead']
