"""Fold frozen-statistics BatchNorm into the convolution before it, for training and inference.

mmdet's detection ResNets keep BatchNorm in eval mode (``norm_eval=True``): each BN is then a fixed
per-channel affine map, ``y = (conv(x) - mean) * gamma / sqrt(var + eps) + beta``, which equals a
convolution with weight ``W * s`` and bias ``beta - mean * s`` (``s = gamma / sqrt(var + eps)``).
Computing that folded weight every forward (weight-sized work) saves a full pass over every
activation in the forward and BatchNorm's backward (two to three more), and the BN inputs need not
be kept for backward. Unlike ``mmcv.cnn.fuse_conv_bn`` (inference only: it overwrites the weights
and drops the BN), gradients still reach ``W``, ``gamma`` and ``beta``, and the parameters, buffers
and state-dict keys stay those of the unfolded model, so checkpoints are interchangeable.

The fold is checked at every forward: a BN in training mode (``norm_eval=False``), or a pair one of
whose halves was replaced since (e.g. by ``convert_sync_batchnorm``), runs unfolded.
"""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _FoldPair:
    """Where a conv/BN pair lives: ``parent``'s attributes ``conv_name`` and ``bn_name``.

    Held in a plain attribute (not a submodule: parameters and state-dict keys stay unchanged);
    ``copy.deepcopy`` of the model copies it along with the parent, so a copy folds its own pair.
    """

    def __init__(self, parent, conv_name, bn_name):
        self.parent, self.conv_name, self.bn_name = parent, conv_name, bn_name

    def active(self):
        conv = getattr(self.parent, self.conv_name, None)
        bn = getattr(self.parent, self.bn_name, None)
        return (isinstance(conv, FoldedBNConv2d) and isinstance(bn, FoldedBatchNormMixin)
                and conv._fold_pair is self and bn._fold_pair is self and not bn.training)

    @property
    def bn(self):
        return getattr(self.parent, self.bn_name)


class FoldedBNConv2d(nn.Conv2d):
    """``nn.Conv2d`` that applies the eval-mode BatchNorm after it through its weight and bias."""

    _fold_pair: _FoldPair

    def forward(self, x):
        if not self._fold_pair.active():
            return super().forward(x)
        bn = self._fold_pair.bn
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        if self.bias is not None:
            shift = shift + self.bias * scale
        weight = self.weight * scale.reshape(-1, 1, 1, 1)
        if self.weight.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
        return self._conv_forward(x, weight, shift)


class FoldedBatchNormMixin:
    """Makes a ``_BatchNorm`` the identity while its conv applies it (eval mode, pair intact)."""

    _fold_pair: _FoldPair

    def forward(self, x):
        if self._fold_pair.active():
            return x
        return super().forward(x)


class FoldedBatchNorm2d(FoldedBatchNormMixin, nn.BatchNorm2d):
    pass


class FoldedSyncBatchNorm(FoldedBatchNormMixin, nn.SyncBatchNorm):
    pass


_FOLDED_BN_CLASSES = {nn.BatchNorm2d: FoldedBatchNorm2d, nn.SyncBatchNorm: FoldedSyncBatchNorm}


def _foldable(conv, bn):
    # Exact classes only: a subclass (deformable, weight-standardised, ...) may not be a plain
    # convolution, and a BN without running statistics normalises by the batch even in eval mode.
    return (type(conv) is nn.Conv2d and type(bn) in _FOLDED_BN_CLASSES
            and bn.track_running_stats and bn.running_mean is not None
            and bn.num_features == conv.out_channels)


def _conv_bn_pairs(module):
    """(conv name, BN name) pairs in ``module`` whose conv output goes straight into the BN.

    mmdet's ResNet stem and blocks name them ``conv{i}`` and ``norm{i}_name`` (their forward is
    ``norm_i(conv_i(x))``); ``nn.Sequential`` (shortcut downsample, deep stem) chains them.
    """
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        return [(a, b) for a, b in zip(names, names[1:])]
    return [(f'conv{i}', getattr(module, f'norm{i}_name')) for i in range(1, 4)
            if isinstance(getattr(module, f'norm{i}_name', None), str)
            and hasattr(module, f'conv{i}')]


def fold_frozen_batchnorm(model: nn.Module) -> int:
    """Make each conv→BN pair of ``model`` (mmdet ResNet layout) fold its BN while in eval mode.

    Changes the classes of the pairs' modules in place, nothing else. Returns the number of pairs.
    """
    count = 0
    for parent in list(model.modules()):
        if isinstance(parent, (nn.Conv2d, _BatchNorm)):
            continue
        for conv_name, bn_name in _conv_bn_pairs(parent):
            conv, bn = getattr(parent, conv_name, None), getattr(parent, bn_name, None)
            if conv is None or bn is None or not _foldable(conv, bn):
                continue
            pair = _FoldPair(parent, conv_name, bn_name)
            conv.__class__ = FoldedBNConv2d
            bn.__class__ = _FOLDED_BN_CLASSES[type(bn)]
            conv._fold_pair = bn._fold_pair = pair
            count += 1
    return count
