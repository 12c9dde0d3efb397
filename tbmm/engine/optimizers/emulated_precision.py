"""Mixed-precision training emulated in float32, to check its accuracy where the hardware lacks it.

float16 convolutions on a CPU are ~100x slower than float32 (no kernels), so whether float16
autocast keeps a config's accuracy cannot be trained out on a laptop. This emulates what autocast
does to the numbers: the inputs, weights and outputs of every convolution and matrix product are
rounded to the low-precision type, in the forward pass and, through the casts' own backward, in
the gradients too (float16 gradients underflow below 2**-24 as on a GPU, hence the loss scaling).
The arithmetic stays float32 (as a GPU's tensor cores accumulate), so a run costs about what a
float32 run costs. Elementwise operations (normalisation, activations, additions) are not rounded:
it measures the precision of the heavy operations, not a bit-exact GPU run.
"""
from contextlib import contextmanager

import torch
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper
from torch.overrides import TorchFunctionMode

#: The operations autocast runs in the low-precision type: convolutions and matrix products.
ROUNDED_OPERATIONS = frozenset({
    torch.conv1d, torch.conv2d, torch.conv3d, torch.conv_transpose2d, torch.nn.functional.linear,
    torch.matmul, torch.mm, torch.bmm, torch.addmm, torch.baddbmm,
})

EMULATED_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}


class RoundedMatmulMode(TorchFunctionMode):
    """Within this mode, convolutions and matrix products see and give ``dtype``-rounded float32."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def _round(self, value):
        if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
            # Differentiable: the backward of each cast rounds the gradient as well.
            return value.to(self.dtype).to(torch.float32)
        return value

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in ROUNDED_OPERATIONS:
            return func(*args, **kwargs)
        args = tuple(self._round(arg) for arg in args)
        kwargs = {key: self._round(value) for key, value in kwargs.items()}
        return self._round(func(*args, **kwargs))


@OPTIM_WRAPPERS.register_module()
class EmulatedAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that trains with :class:`RoundedMatmulMode`: emulated float16/bfloat16
    autocast.

    For accuracy checks only (it is no faster than float32), e.g. the phantom float16 check on a
    CPU:
    ``--cfg-options optim_wrapper.type=EmulatedAmpOptimWrapper optim_wrapper.dtype=float16``.
    float16 uses dynamic loss scaling like MMEngine's ``AmpOptimWrapper`` (a step whose gradients
    overflowed is skipped and the scale halved); bfloat16 has float32's range and needs none.
    """

    def __init__(self, dtype: str = 'float16', **kwargs):
        if dtype not in EMULATED_DTYPES:
            raise ValueError(f'EmulatedAmpOptimWrapper: dtype must be one of '
                             f'{sorted(EMULATED_DTYPES)}, got {dtype!r}')
        super().__init__(**kwargs)
        self.dtype = EMULATED_DTYPES[dtype]
        self.loss_scaler = None
        if self.dtype == torch.float16:
            device = next(p.device.type for group in self.optimizer.param_groups
                          for p in group['params'])
            self.loss_scaler = torch.amp.GradScaler(device)

    # The loss scaling follows AmpOptimWrapper's steps; subclassing it is not possible here: its
    # __init__ asserts a GPU (or NPU/MLU/MUSA), and this wrapper is for machines without one.
    def backward(self, loss, **kwargs):
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        super().backward(loss, **kwargs)

    def step(self, **kwargs):
        if self.loss_scaler is None:
            return super().step(**kwargs)
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update()

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), RoundedMatmulMode(self.dtype):
            yield

    def state_dict(self):
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if self.loss_scaler is not None and scaler_state is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)
