"""Folding eval-mode BatchNorm into the convolutions keeps the function, gradients and
checkpoints."""
import copy

import pytest
import torch
from mmdet.models.backbones import ResNet
from mmengine.model import convert_sync_batchnorm
from torch import nn

from tbmm.models.layers import fold_frozen_batchnorm
from tbmm.models.layers.folded_batchnorm import FoldedBatchNorm2d, FoldedBNConv2d


def _resnet(depth=18, norm_eval=True):
    torch.manual_seed(0)
    model = ResNet(depth=depth, out_indices=(1, 2, 3), frozen_stages=1, norm_eval=norm_eval)
    # Statistics and affine parameters far from the identity, so a fold that skips one shows.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


def _pairs(model):
    return sum(isinstance(m, FoldedBNConv2d) for m in model.modules())


@pytest.mark.parametrize('depth, pairs', [(18, 1 + 8 * 2 + 3), (50, 1 + 16 * 3 + 4)])
def test_every_conv_bn_pair_of_resnet_is_folded(depth, pairs):
    model = _resnet(depth)
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_frozen_batchnorm(model) == pairs == bns
    assert _pairs(model) == pairs
    assert fold_frozen_batchnorm(model) == 0  # folding twice changes nothing


def test_folded_resnet_trains_like_the_unfolded_one():
    reference, folded = _resnet(), _resnet()
    assert fold_frozen_batchnorm(folded) > 0
    assert list(reference.state_dict()) == list(folded.state_dict())
    reference.train(), folded.train()
    x = torch.randn(2, 3, 64, 64)
    out_ref, out_fold = reference(x), folded(x)
    for a, b in zip(out_ref, out_fold):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    sum(o.square().sum() for o in out_ref).backward()
    sum(o.square().sum() for o in out_fold).backward()
    grads = 0
    for (name, p_ref), (_, p_fold) in zip(reference.named_parameters(),
                                           folded.named_parameters()):
        assert (p_ref.grad is None) == (p_fold.grad is None), name
        if p_ref.grad is not None:
            torch.testing.assert_close(p_fold.grad, p_ref.grad, rtol=1e-3, atol=1e-3 * (
                p_ref.grad.abs().max().item() + 1e-6))
            grads += 1
    # BN affine parameters of the trained stages get gradients through the folded weight.
    assert grads > 0 and folded.layer2[0].bn1.weight.grad is not None
    # Running statistics are untouched in eval mode.
    torch.testing.assert_close(folded.layer2[0].bn1.running_mean,
                               reference.layer2[0].bn1.running_mean)


def test_bn_in_training_mode_runs_unfolded():
    reference, folded = _resnet(norm_eval=False), _resnet(norm_eval=False)
    fold_frozen_batchnorm(folded)
    reference.train(), folded.train()
    x = torch.randn(2, 3, 64, 64)
    # (The frozen stem and stage 1 stay in eval mode, hence folded: rounding differs slightly.)
    for a, b in zip(reference(x), folded(x)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    # Batch statistics were used and the running ones updated, as without the fold.
    torch.testing.assert_close(folded.layer3[0].bn2.running_var,
                               reference.layer3[0].bn2.running_var)


def test_checkpoints_load_both_ways():
    reference, folded = _resnet(), _resnet()
    fold_frozen_batchnorm(folded)
    for m in folded.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.add_(0.3)
    reference.load_state_dict(folded.state_dict())
    reference.eval(), folded.eval()
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(reference(x), folded(x)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_deepcopy_folds_its_own_batchnorm():
    folded = _resnet()
    fold_frozen_batchnorm(folded)
    folded.eval()
    copied = copy.deepcopy(folded)
    x = torch.randn(1, 3, 64, 64)
    before = folded(x)
    copied.layer2[0].bn1.bias.data.add_(1.0)  # e.g. an EMA copy drifting from the model
    for a, b in zip(before, folded(x)):
        torch.testing.assert_close(b, a)
    assert not torch.allclose(copied(x)[0], before[0])


def test_replaced_batchnorm_is_not_applied_twice():
    reference, folded = _resnet(), _resnet()
    fold_frozen_batchnorm(folded)
    # SyncBN conversion (runner's sync_bn) swaps the BN modules for plain ones: no fold then.
    converted = convert_sync_batchnorm(folded)
    assert not any(isinstance(m, FoldedBatchNorm2d) for m in converted.modules())
    swapped = _resnet()
    fold_frozen_batchnorm(swapped)
    for parent in list(swapped.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FoldedBatchNorm2d):
                fresh = nn.BatchNorm2d(child.num_features)
                fresh.load_state_dict(child.state_dict())
                setattr(parent, name, fresh)
    assert _pairs(swapped) > 0  # the convs still think they fold
    reference.eval(), swapped.eval()
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(reference(x), swapped(x)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_folded_weight_keeps_channels_last():
    model = _resnet().to(memory_format=torch.channels_last)
    fold_frozen_batchnorm(model)
    model.eval()
    seen = []
    conv = model.layer2[0].conv2
    original = conv._conv_forward

    def spy(x, weight, bias):
        seen.append(weight.is_contiguous(memory_format=torch.channels_last))
        return original(x, weight, bias)

    conv._conv_forward = spy
    model(torch.randn(1, 3, 64, 64).contiguous(memory_format=torch.channels_last))
    assert seen == [True]
