from tbmm.models.dense_heads.float32_output_retina_head import Float32OutputRetinaHead

__all__ = ['Float32OutputRetinaHead']
