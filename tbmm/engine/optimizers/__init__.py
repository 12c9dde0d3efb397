from .bf16_autocast import BF16AutocastOptimWrapper, cpu_has_fast_bf16
from .emulated_precision import EmulatedAmpOptimWrapper, RoundedMatmulMode

__all__ = ['BF16AutocastOptimWrapper', 'EmulatedAmpOptimWrapper', 'RoundedMatmulMode',
           'cpu_has_fast_bf16']
