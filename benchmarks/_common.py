"""Helpers shared by the benchmark scripts (machine facts, matrix-product peak, model set-up).

Benchmarks are scripts, not tests: each prints what it measured with the machine, the
library versions and the settings, so the numbers can be copied into the README.
"""
from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/x.py` without an installed package
    sys.path.insert(0, str(REPO))

from stavis_lib.runtime import cpu_flags, tune_cpu_allocator  # noqa: E402  (after the path set-up)

DEFAULT_CACHE = REPO / ".cache" / "bench"


# ------------------------------------------------------------------ machine facts
def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (lscpu's "Model name"), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary(threads: int) -> str:
    flags = cpu_flags()
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"machine : {cpu_model()}, {os.cpu_count()} logical CPUs, flags {' '.join(simd) or 'none of avx2/avx512/amx'}\n"
        f"software: Python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, torch threads {threads}\n"
        f"load    : {load} (1/5/15-min load average at start; other processes slow every number down)"
    )


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (DataLoader workers, ffmpeg).

    Less sensitive than wall time to other processes competing for the cores (idle OpenMP
    threads spinning still count, in both paths alike).
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# ------------------------------------------------------------------ matrix-product peak
def _best_rate(fn: Callable[[], object], flop: float, seconds: float) -> float:
    fn()
    best = float("inf")
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return flop / best / 1e9


def matmul_peak_gflops(dtype: torch.dtype, n: int = 2048, seconds: float = 1.0) -> dict[str, float]:
    """Best GFLOP/s in ``dtype`` of two matrix-product kernels, over about ``seconds`` each.

    ``mm``: an (n×n)·(n×n) ``torch.mm`` (BLAS; on AMD CPUs its fp32 path may not use
    AVX-512). ``conv``: a 3×3×3 convolution of 128 channels on 32×8×28×28 channels-last
    activations, the oneDNN kernel that most of the trunk's FLOPs run in. ``peak``: the
    larger, the reference for "fraction of peak".
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    mm = _best_rate(lambda: torch.mm(a, b), 2.0 * n**3, seconds)
    conv = nn.Conv3d(128, 128, 3, padding=1, bias=False).to(memory_format=torch.channels_last_3d)
    x = torch.randn(32, 128, 8, 28, 28, generator=g).contiguous(memory_format=torch.channels_last_3d)
    flop = 2.0 * 32 * 128 * 128 * 27 * 8 * 28 * 28

    def run_conv() -> object:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            return conv(x)

    rate = _best_rate(run_conv, flop, seconds)
    return {"mm": mm, "conv": rate, "peak": max(mm, rate)}


# ------------------------------------------------------------------ model set-up
def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` while ``fn`` runs."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


HEAD_PREFIXES = ("dsam.", "visual_head", "fusion.", "localization.")


def normalise_heads(model: nn.Module, clips: torch.Tensor, audio: torch.Tensor | None, target: float = 1.0) -> nn.Module:
    """Give a randomly initialised network maps with spatial structure (for map comparisons).

    The official head init (N(0, 0.001) weights, bias -6) makes untrained maps nearly flat,
    and a per-frame CC between two nearly flat maps measures rounding, not the model; plain
    fan-in init instead saturates the spatial softmax of DSAM and the final sigmoid. So,
    in one forward pass over ``clips`` (in order, LSUV-style), the weights of every head
    convolution and of the bilinear localization are scaled so that their outputs (without
    bias) have standard deviation ``target``: unit-scale logits, as a trained network has.
    Speed does not depend on weight values.
    """
    handles = []

    def rescale(module: nn.Module, _inputs, output: torch.Tensor) -> torch.Tensor:
        bias = module.bias.view(1, -1, *([1] * (output.dim() - 2))) if module.bias is not None else 0.0
        if isinstance(module, nn.Bilinear) and module.bias is not None:
            bias = module.bias
        std = float((output - bias).std())
        if std > 0:
            module.weight.mul_(target / std)
            output = bias + (output - bias) * (target / std)
        return output

    for name, module in model.named_modules():
        if name.startswith(HEAD_PREFIXES) and isinstance(module, (nn.Conv2d, nn.Bilinear)) \
                and not isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(rescale))
    try:
        with torch.no_grad():
            model(clips, audio) if audio is not None else model(clips)
    finally:
        for handle in handles:
            handle.remove()
    return model


@contextlib.contextmanager
def fp32_modules(model: nn.Module, names: list[str]):
    """Run the named submodules in fp32 inside an autocast region (restored on exit).

    Each module's ``forward`` is wrapped so that autocast is disabled and floating inputs are
    cast to fp32; the rest of the network keeps the autocast dtype.
    """
    saved = []
    for name in names:
        try:
            module = model.get_submodule(name)
        except AttributeError:  # e.g. no audio branch in the "visual" variant
            continue
        original = module.forward

        def forward(*args, __original=original, **kwargs):
            with torch.autocast(device_type="cpu", enabled=False):
                cast = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
                return __original(*cast, **kwargs)

        module.forward = forward
        saved.append((module, original))
    try:
        yield model
    finally:
        for module, original in saved:
            module.forward = original


def calibrate_batchnorm(model: nn.Module, clips: torch.Tensor, audio: torch.Tensor | None) -> nn.Module:
    """Set BatchNorm running statistics from one batch (as a trained network would have them).

    With the default statistics (mean 0, var 1) a random 50-layer trunk's activations grow
    block after block; calibrated, every layer sees unit-scale inputs as in a trained network.
    """
    saved = {}
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            saved[module] = module.momentum
            module.momentum = None  # cumulative average
            module.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(clips, audio) if audio is not None else model(clips)
    model.eval()
    for module, momentum in saved.items():
        module.momentum = momentum
    return model


def per_frame_cc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of maps (T,H,W) x (T,H,W) -> (T,)."""
    x = a.reshape(a.shape[0], -1).astype(np.float64)
    y = b.reshape(b.shape[0], -1).astype(np.float64)
    x = x - x.mean(1, keepdims=True)
    y = y - y.mean(1, keepdims=True)
    denom = np.sqrt((x * x).sum(1) * (y * y).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(1) / denom


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])
