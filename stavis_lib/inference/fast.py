"""Step 2 of ``predict_video``: prepare the network, with the fast paths that :class:`FastPaths` switches.

:func:`prepare_network` is the one place where they are applied. Each gives the same maps up
to float rounding; the network transforms themselves live in ``stavis_lib.model``
(``model.fold``: BatchNorm folding and oneDNN fusion; ``model.stem_cache``: the shared stem
convolution). Device, autocast dtype and channels-last conversion come from ``stavis_lib.runtime``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from stavis_lib.runtime import make_autocast_safe, to_channels_last


@dataclass(frozen=True)
class FastPaths:
    """Which fast paths :func:`prepare_network` applies (``predict_video``'s keyword arguments).

    Attributes:
        fold_bn: run a copy of the network with every BatchNorm folded into the convolution
            before it and, on the CPU, ReLU and residual adds fused into oneDNN's convolutions
            (``model.fold``; the fusion is used in fp32 only): the same function up to float
            rounding, fewer passes over the activations. The model passed in is not modified.
        reuse_conv1: convolve each frame once with the 7x7x7 stem's temporal taps and build
            every window's stem output, and what the network needs of it after BN + ReLU (its
            temporal mean and temporal max-pool), from per-frame caches (``model.stem_cache``,
            ``Stavis.forward_from_stem_summary``): the same maps up to float summation order,
            6.2 of the 19.5 GFLOP of a full-size window saved.
        channels_last: channels-last memory format for weights and clips.
        compile: ``torch.compile`` the network, for GPUs (on a 2-core AVX-512 CPU inductor's
            kernels were slower than eager oneDNN on channels-last 3D tensors). One compile per
            call shape (the last partial batch is padded to the batch size), ~20-30 s on a
            2-core CPU; falls back to eager with a warning if compiling fails. Combines with
            ``reuse_conv1`` (the network after the stem is compiled).
    """

    fold_bn: bool = True
    reuse_conv1: bool = True
    channels_last: bool = True
    compile: bool = False


class SaliencyLogits(torch.nn.Module):
    """The saliency logits of a ``Stavis`` network from what ``predict_video`` feeds it.

    ``source`` "clips": ``(clips, audio)``; "conv1": ``(conv1 output, audio)``
    (``forward_from_conv1``); "summary": ``(pooled, tmax, audio)`` (``forward_from_stem_summary``).
    What ``FastPaths.compile`` compiles.
    """

    def __init__(self, net: torch.nn.Module, frame_size: tuple[int, int], source: str) -> None:
        super().__init__()
        self.net = net
        self.frame_size = frame_size
        self.source = source

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        if self.source == "summary":
            return self.net.forward_from_stem_summary(*inputs, self.frame_size).saliency
        if self.source == "conv1":
            return self.net.forward_from_conv1(*inputs, self.frame_size).saliency
        return self.net(*inputs).saliency


class CompiledOrEager:
    """Calls a ``torch.compile``d module; if compiling fails (e.g. no C++ compiler on a CPU
    machine), warns once and runs the module eagerly from then on (same numbers, slower)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.compiled: Any = torch.compile(module, dynamic=False)
        self.failed: str | None = None

    def __call__(self, *args: Any) -> torch.Tensor:
        if self.failed is None:
            try:
                return self.compiled(*args)
            except Exception as error:  # torch._dynamo / inductor errors have no common base
                text = str(error).strip()
                self.failed = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
                warnings.warn(f"predict_video: torch.compile failed ({self.failed}); running the model "
                              "without compiling", stacklevel=3)
        return self.module(*args)


@dataclass
class PreparedNetwork:
    """The network as ``predict_video`` runs it: on its device, in eval mode, with the fast paths applied."""

    logits_of: SaliencyLogits | CompiledOrEager
    stem: Any                    # model.stem_cache.StemCache, or None without conv1 reuse
    activation: Any              # the stem's BN + ReLU when the network takes stem summaries, else None
    device: torch.device
    dtype: torch.dtype | None    # autocast dtype; None = fp32
    paths: FastPaths

    @property
    def compiled(self) -> bool:
        """Whether the network runs compiled (False when compiling was not asked for or failed)."""
        return isinstance(self.logits_of, CompiledOrEager) and self.logits_of.failed is None


def prepare_network(model: torch.nn.Module, dev: torch.device, ac_dtype: torch.dtype | None, size: int,
                    paths: FastPaths) -> PreparedNetwork:
    """The model on ``dev`` in eval mode with the fast paths ``paths`` (``size``: its ``sample_size``).

    Moves ``model`` to ``dev`` and puts it in eval mode (``predict_video`` restores its mode);
    with ``fold_bn`` the other transforms apply to a folded copy, else to ``model`` itself.
    """
    net = model.to(dev).eval()
    if paths.fold_bn:
        from stavis_lib.model.fold import fold_batchnorm, fuse_cpu_pointwise

        net = fold_batchnorm(net)
        if dev.type == "cpu":
            fuse_cpu_pointwise(net)  # ReLU and residual adds inside oneDNN's convolutions (fp32)
    if paths.channels_last:
        to_channels_last(net)
    if ac_dtype is not None:
        make_autocast_safe(net)
    stem = activation = None
    if paths.reuse_conv1:
        from stavis_lib.model.stem_cache import StemCache, find_stem_conv, stem_activation

        stem = StemCache(find_stem_conv(net)[2])
        if getattr(net, "takes_stem_summaries", lambda: False)():
            activation = stem_activation(net.trunk)
    feed = "clips" if stem is None else ("conv1" if activation is None else "summary")
    logits_of: SaliencyLogits | CompiledOrEager = SaliencyLogits(net, (size, size), feed)
    if paths.compile:
        logits_of = CompiledOrEager(logits_of)
    return PreparedNetwork(logits_of, stem, activation, dev, ac_dtype, paths)
