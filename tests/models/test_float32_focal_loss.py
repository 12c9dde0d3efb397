import pytest
import torch
from mmdet.models.losses import FocalLoss

from tbmm.models.losses import Float32FocalLoss


def _case(num=200, num_classes=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    pred = torch.randn(num, num_classes, generator=generator) * 3
    # Label num_classes is background.
    target = torch.randint(0, num_classes + 1, (num, ), generator=generator)
    weight = torch.rand(num, generator=generator)
    return pred, target, weight


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_equals_mmdet_focal_loss_in_float32(reduction):
    pred, target, weight = _case()
    kwargs = dict(gamma=2.0, alpha=0.25, loss_weight=1.0, reduction=reduction)
    avg_factor = 37.0 if reduction == 'mean' else None
    expected = FocalLoss(**kwargs)(pred, target, weight, avg_factor=avg_factor)
    actual = Float32FocalLoss(**kwargs)(pred, target, weight, avg_factor=avg_factor)
    assert actual.dtype == torch.float32
    torch.testing.assert_close(actual, expected)


def test_finite_float32_under_bf16_autocast_with_gradients():
    pred, target, weight = _case()
    layer = torch.nn.Linear(9, 9)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits = layer(pred)  # bfloat16, as the head's convolutions give under autocast
        assert logits.dtype == torch.bfloat16
        loss = Float32FocalLoss()(logits, target, weight, avg_factor=10.0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(layer.weight.grad).all()
    # Same value as the float32 loss of the same (bfloat16-rounded) logits.
    torch.testing.assert_close(loss, FocalLoss()(logits.detach().float(), target, weight,
                                                 avg_factor=10.0))


def test_registered_in_mmdet_models():
    from mmdet.registry import MODELS
    assert MODELS.build(dict(type='Float32FocalLoss', gamma=2.0)).gamma == 2.0
