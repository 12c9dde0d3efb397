from .bf16_autocast import BF16AutocastOptimWrapper, cpu_has_fast_bf16

__all__ = ['BF16AutocastOptimWrapper', 'cpu_has_fast_bf16']
