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


# ---------------------------------------------------------------------------------------------
# oneDNN post-op fusion of the residual blocks (CPU, fp32 inference, after fold_batchnorm)
# ---------------------------------------------------------------------------------------------
def _pointwise_conv(conv: nn.Module, x: torch.Tensor, attr: str) -> torch.Tensor:
    """conv(x) with ``attr`` ("relu" or "none") applied inside the oneDNN convolution."""
    return torch.ops.mkldnn._convolution_pointwise(
        x, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
        attr, [], "")


def _add_relu_into(residual: torch.Tensor, x: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """``residual = relu(conv(x) + residual)`` in one oneDNN convolution, written into ``residual``."""
    torch.ops.mkldnn._convolution_pointwise_.binary(
        residual, x, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation),
        conv.groups, "add", 1.0, "relu", [], "")
    return residual


def _fused_forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A residual block (BasicBlock or Bottleneck, BN folded) with ReLU and the residual add fused
    into its convolutions. The block's input may be overwritten (it is when there is no
    downsampling shortcut): for inference inside the trunk, where nothing reads it again."""
    residual = x if block.downsample is None else _pointwise_conv(block.downsample[0], x, "none")
    out = _pointwise_conv(block.conv1, x, "relu")
    if hasattr(block, "conv3"):
        out = _pointwise_conv(block.conv2, out, "relu")
        return _add_relu_into(residual, out, block.conv3)
    return _add_relu_into(residual, out, block.conv2)


def _fusable(block: nn.Module) -> bool:
    convs = [getattr(block, f"conv{i}", None) for i in (1, 2, 3)]
    bns = [getattr(block, f"bn{i}", None) for i in (1, 2, 3)]
    if not all(isinstance(c, nn.Conv3d) for c in convs[:2]) or not all(isinstance(b, nn.Identity) for b in bns[:2]):
        return False
    if convs[2] is not None and not (isinstance(convs[2], nn.Conv3d) and isinstance(bns[2], nn.Identity)):
        return False
    shortcut = block.downsample
    return shortcut is None or (isinstance(shortcut, nn.Sequential) and len(shortcut) == 2
                                and isinstance(shortcut[0], nn.Conv3d) and isinstance(shortcut[1], nn.Identity))


def fuse_cpu_pointwise(model: nn.Module) -> int:
    """Fuse ReLU and the residual add into the convolutions of every residual block (in place).

    For a model from :func:`fold_batchnorm` (inference only; blocks whose BatchNorms are not
    folded, or with the parameter-free shortcut "A", are left alone). A fused block runs
    ``torch.ops.mkldnn._convolution_pointwise`` (what inductor emits for CPU) when its input is
    an fp32 CPU tensor outside autocast and no gradient is needed; otherwise, or if that
    private op is missing or fails (it may change between torch releases), the block's own
    forward runs (once failed, for good). Same values as the unfused block up to float rounding;
    saves one memory pass per ReLU and per residual add (~5 % of a full-size CPU forward).
    Returns the number of blocks fused.
    """
    count = 0
    for block in model.modules():
        if hasattr(block, "downsample") and hasattr(block, "conv1") and _fusable(block):
            block.forward = _FusedForward(block)  # instance attribute: shadows the class method
            count += 1
    return count


class _FusedForward:
    def __init__(self, block: nn.Module) -> None:
        self.plain = type(block).forward.__get__(block)
        self.block = block
        self.broken = not hasattr(torch.ops.mkldnn, "_convolution_pointwise")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if (self.broken or x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_grad_enabled()
                or torch.is_autocast_enabled("cpu")):
            return self.plain(x)
        try:
            return _fused_forward(self.block, x)
        except (RuntimeError, AttributeError, TypeError):
            self.broken = True
            return self.plain(x)
