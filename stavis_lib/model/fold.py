"""Inference-only rewrite: fold each eval-mode BatchNorm into the convolution before it.

With running statistics, ``BN(conv(x)) = gamma * (conv(x) - mu) / sqrt(var + eps) + beta`` is
itself a convolution with weights ``W * s`` and bias ``(b - mu) * s + beta``, where
``s = gamma / sqrt(var + eps)`` per output channel. Folding removes one full pass over every
activation tensor of the trunk (50 BatchNorms in the full-size network, ~7 % of a CPU forward)
and leaves the network's function unchanged up to float rounding (~1e-7 relative per layer
in fp32). Zero padding commutes with the fold (the folded bias is added to padded positions
exactly as BN shifted them), so the conv1 reuse of ``stem_cache`` stays exact.

The pairs folded are the ones the STAViS modules apply back to back: ``convK`` -> ``bnK``
attributes of one module (the ResNet blocks and the trunk's stem) and a convolution directly
followed by a BatchNorm inside an ``nn.Sequential`` (shortcuts, SoundNet). Each folded BN is
replaced by ``nn.Identity``.
"""
from __future__ import annotations

import copy
import re

import torch
from torch import nn

__all__ = ["fold_batchnorm"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = nn.modules.batchnorm._BatchNorm


def _fold_pair(conv: nn.Module, bn: nn.Module) -> None:
    """Fold ``bn`` (running statistics) into ``conv`` in place."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_batchnorm: a BatchNorm without running statistics cannot be folded")
    with torch.no_grad():
        scale = bn.running_var.double().add(bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        shift = -bn.running_mean.double() * scale
        if bn.bias is not None:
            shift = shift + bn.bias.double()
        if conv.bias is not None:
            shift = shift + conv.bias.double() * scale
        shape = (-1,) + (1,) * (conv.weight.dim() - 1)
        weight = (conv.weight.double() * scale.view(shape)).to(conv.weight.dtype)
        conv.weight.copy_(weight)  # keeps the memory format of the parameter
        conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=False)


def _pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Names (conv, bn) of the children of ``module`` that run back to back."""
    children = dict(module.named_children())
    pairs = []
    if isinstance(module, nn.Sequential):
        names = list(children)
        for a, b in zip(names, names[1:]):
            if isinstance(children[a], _CONV) and isinstance(children[b], _BN):
                pairs.append((a, b))
        return pairs
    for name, child in children.items():
        match = re.fullmatch(r"bn(\d*)", name)
        conv = children.get(f"conv{match.group(1)}") if match else None
        if isinstance(child, _BN) and isinstance(conv, _CONV):
            pairs.append((f"conv{match.group(1)}", name))
    return pairs


def fold_batchnorm(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` (eval mode) with every conv -> BatchNorm pair folded (see module doc).

    The copy is for inference only: it is put in eval mode and its BatchNorms are gone, so
    training it would not be the same network. ``inplace=True`` rewrites ``model`` itself.
    Returns the folded model; the number of folded pairs is in its ``folded_batchnorms``.
    """
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    count = 0
    for module in list(model.modules()):
        for conv_name, bn_name in _pairs(module):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if conv.out_channels != bn.num_features:
                continue
            _fold_pair(conv, bn)
            setattr(module, bn_name, nn.Identity())
            count += 1
    model.folded_batchnorms = count  # type: ignore[assignment]
    return model
