"""Emulated float16/bfloat16 autocast: the rounding happens where autocast's would, both ways."""
import pytest
import torch
from torch import nn

from tbmm.engine.optimizers import EmulatedAmpOptimWrapper, RoundedMatmulMode


def _representable(tensor, dtype):
    return torch.equal(tensor, tensor.to(dtype).float())


def test_conv_output_is_rounded_to_float16_and_close_to_float32():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, padding=1)
    x = torch.randn(2, 8, 16, 16)
    exact = conv(x)
    assert not _representable(exact, torch.float16)
    with RoundedMatmulMode(torch.float16):
        rounded = conv(x)
        activated = torch.relu(x * 1.001)  # not a matrix product: left in float32
    assert rounded.dtype == torch.float32 and _representable(rounded, torch.float16)
    assert not torch.equal(rounded, exact)
    torch.testing.assert_close(rounded, exact, rtol=1e-2, atol=1e-2)
    assert not _representable(activated, torch.float16)


def test_bfloat16_emulation_matches_cpu_bfloat16_autocast():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 16, 3, padding=1)
    x = torch.randn(2, 16, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        real = conv(x).float()
    with RoundedMatmulMode(torch.bfloat16):
        emulated = conv(x)
    exact = conv(x)
    # Equal up to the accumulation order (at most one bfloat16 step), far closer than to float32.
    # On average, not at the worst element: where oneDNN sums in another order (AVX512-BF16 CPUs)
    # a single output can land one bfloat16 step off, as far as float32 is from bfloat16 there.
    step = exact.abs() * 2 ** -7
    assert ((real - emulated).abs() <= step + 1e-6).all()
    assert (real - emulated).abs().mean() < (real - exact).abs().mean() / 4


def test_float16_gradients_underflow_like_on_a_gpu():
    linear = nn.Linear(4, 1)
    x = torch.randn(3, 4, requires_grad=True)
    with RoundedMatmulMode(torch.float16):
        out = linear(x)
    (out.sum() * 1e-9).backward()  # 1e-9 * weight: below float16's smallest subnormal (6e-8)
    assert torch.count_nonzero(x.grad) == 0
    x.grad = None
    (linear(x).sum() * 1e-9).backward()
    assert torch.count_nonzero(x.grad) > 0


def _wrapper(dtype, model, **kwargs):
    return EmulatedAmpOptimWrapper(
        dtype=dtype, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_float16_wrapper_scales_the_loss_so_small_gradients_survive():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    wrapper = _wrapper('float16', model)
    x = torch.randn(3, 4, requires_grad=True)
    with wrapper.optim_context(model):
        loss = model(x).sum() * 1e-9
    wrapper.backward(loss)
    # Unscaled, these gradients would be zero in float16 (see above); scaled by 2**16 they are not.
    assert torch.count_nonzero(x.grad) == x.numel()
    wrapper.loss_scaler.unscale_(wrapper.optimizer)
    torch.testing.assert_close(model.weight.grad, x.detach().sum(0, keepdim=True) * 1e-9,
                               rtol=2e-3, atol=0)
    assert 'loss_scaler' in wrapper.state_dict()


def test_float16_wrapper_skips_an_overflowing_step_and_lowers_the_scale():
    model = nn.Linear(4, 1)
    wrapper = _wrapper('float16', model, clip_grad=dict(max_norm=1.0))
    scale = wrapper.loss_scaler.get_scale()
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(torch.full((2, 4), 1e4)).sum() * 1e4  # gradients overflow float16
    wrapper.update_params(loss)
    assert torch.equal(before, model.weight)
    assert wrapper.loss_scaler.get_scale() < scale
    restored = _wrapper('float16', nn.Linear(4, 1))
    restored.load_state_dict(wrapper.state_dict())
    assert restored.loss_scaler.get_scale() == wrapper.loss_scaler.get_scale()


def test_bfloat16_wrapper_needs_no_loss_scaling_and_trains():
    model = nn.Linear(4, 1)
    wrapper = _wrapper('bfloat16', model)
    assert wrapper.loss_scaler is None
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert _representable(out, torch.bfloat16)
    wrapper.update_params(out.sum())
    assert not torch.equal(before, model.weight)


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="dtype must be one of .*'float8'"):
        _wrapper('float8', nn.Linear(2, 1))


def test_config_switch_builds_it_from_the_registry():
    # What the phantom precision check passes: optim_wrapper.type=... optim_wrapper.dtype=float16
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    model = nn.Linear(2, 1)
    with DefaultScope.overwrite_default_scope('mmdet'):  # as in a tbmm config
        wrapper = build_optim_wrapper(model, dict(
            type='EmulatedAmpOptimWrapper', dtype='float16',
            optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=10)))
    assert isinstance(wrapper, EmulatedAmpOptimWrapper) and wrapper.dtype == torch.float16
