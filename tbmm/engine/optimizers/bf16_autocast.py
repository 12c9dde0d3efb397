"""bfloat16 autocast training on any device, CPU included."""
from contextlib import contextmanager

import torch
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper


def cpu_has_fast_bf16():
    """True where the CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16).

    Elsewhere bfloat16 autocast on the CPU is emulated and slower than float32.
    """
    checks = ('_is_amx_tile_supported', '_is_avx512_bf16_supported')
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass under ``torch.autocast(dtype=bfloat16)``.

    MMEngine's ``AmpOptimWrapper`` requires CUDA (or NPU/MLU) and a loss scaler; bfloat16 has
    float32's exponent range, so it needs no loss scaling, and on CPUs with AMX it trains the
    phantom configs about 1.5x faster than float32 (see docs/benchmarks.md).
    """

    @contextmanager
    def optim_context(self, model):
        device_type = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                          dtype=torch.bfloat16):
            yield
