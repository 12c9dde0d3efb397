"""The precision a config trains and infers in, and mixed-precision inference in the tools.

Training: the optimizer wrapper's autocast (:func:`training_amp`). Inference (tools/test.py,
validation, tools/infer.py): a config asks for mixed precision with MMEngine's own switch,
``val_cfg = dict(fp16=True)`` / ``test_cfg = dict(fp16=True)`` (the ``_fast_bf16`` and
``_fast_fp16`` configs do): MMEngine's loops then run the model under autocast, float16 on CUDA
and bfloat16 on the CPU. On a CPU without bfloat16 hardware that is slower than float32, so there
the switch is turned off, with a notice.
"""
from typing import Optional, Tuple

import torch

from tbmm.engine.optimizers import bf16_autocast

#: MMEngine's mixed-precision optimizer wrapper, by the names a config may give it.
AMP_OPTIM_WRAPPERS = ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper')

#: Why mixed-precision inference was turned off on a CPU.
NO_FAST_BF16 = ('mixed precision off: this CPU has no bfloat16 hardware (AMX or AVX512-BF16), '
                'where bfloat16 is slower than float32')


def inference_autocast_dtype(device) -> Tuple[Optional[torch.dtype], Optional[str]]:
    """``(dtype, notice)``: the autocast dtype of mixed-precision inference on ``device``.

    float16 on CUDA (what MMEngine's loops pick), bfloat16 on a CPU that has bfloat16 hardware;
    ``(None, why)`` where mixed precision would not pay.
    """
    device_type = torch.device(device).type
    if device_type == 'cuda':
        return torch.float16, None
    if device_type == 'cpu':
        if bf16_autocast.cpu_has_fast_bf16():
            return torch.bfloat16, None
        return None, NO_FAST_BF16
    return None, f'mixed precision off: not supported on {device_type!r} here'


def training_amp(cfg) -> str:
    """``'fp16'``, ``'bf16'`` or ``'none'``: the autocast of ``cfg``'s optimizer wrapper."""
    wrapper = cfg.optim_wrapper
    if wrapper.get('type') in AMP_OPTIM_WRAPPERS:
        return 'bf16' if str(wrapper.get('dtype')) in ('bfloat16', 'torch.bfloat16') else 'fp16'
    if wrapper.get('type') == 'BF16AutocastOptimWrapper':
        return 'bf16'
    return 'none'


def asks_for_inference_amp(cfg) -> bool:
    """Whether ``cfg`` asks for mixed-precision testing (``test_cfg.fp16``)."""
    return bool((cfg.get('test_cfg') or {}).get('fp16', False))


def inference_amp(cfg, device) -> str:
    """``'fp16'``, ``'bf16'`` or ``'none'``: the autocast tools/test.py and tools/infer.py run
    ``cfg`` in on ``device``."""
    if not asks_for_inference_amp(cfg):
        return 'none'
    dtype, _ = inference_autocast_dtype(device)
    return {torch.float16: 'fp16', torch.bfloat16: 'bf16'}.get(dtype, 'none')


def apply_inference_amp(cfg, device, amp: Optional[bool] = None) -> Optional[str]:
    """Set the validation and test loops' ``fp16`` switch of ``cfg`` for ``device``.

    ``amp`` True/False forces it on/off for both loops; None keeps each loop's own. A loop that
    would autocast where it does not pay (see :func:`inference_autocast_dtype`) is switched off;
    the notice saying so is returned (None when nothing was switched off).
    """
    notice = None
    for key in ('val_cfg', 'test_cfg'):
        loop = cfg.get(key)
        # None: no such loop; dict(): MMEngine's default loop, which --amp reaches too.
        if loop is None or (amp is None and 'fp16' not in loop):
            continue
        wanted = loop['fp16'] if amp is None else amp
        if wanted:
            dtype, why = inference_autocast_dtype(device)
            if dtype is None:
                wanted, notice = False, why
        loop['fp16'] = bool(wanted)
    return notice
