"""The runtime policy shared by training, evaluation and prediction: device, precision
(autocast dtype), memory format (channels-last), CPU threads and the glibc allocator setting.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from collections.abc import Iterator

import torch



def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" -> CUDA when available, else CPU; anything else as given."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX-BF16);
    elsewhere bf16 is emulated and slower than fp32."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


#: what ``tune_cpu_allocator`` sets: glibc serves every block below 1 GiB from its heap and keeps
#: up to 2 GiB of freed memory at the heap's top (measured on the benchmark machine: a 256 MiB
#: trim threshold re-faulted the full-size network's activations, a 256 MiB top pad only cost
#: resident memory)
ALLOCATOR_SETTINGS = {"mmap_threshold": 1 << 30, "trim_threshold": (1 << 31) - 1}
_MALLOPT = {"trim_threshold": -1, "top_pad": -2, "mmap_threshold": -3}  # M_* codes of <malloc.h>


def tune_cpu_allocator() -> bool:
    """Let glibc reuse freed activation memory instead of returning it to the OS (process-wide).

    PyTorch's CPU tensors come from ``malloc``. By default glibc serves every block over 32 MiB
    with a fresh ``mmap`` and unmaps it on ``free``, so each batch of a full-size network
    page-faults ~1 GB of activations in again and the kernel zeroes every page: on the 2-core
    benchmark machine that is 40 % of the time of a forward pass (``benchmarks/README.md``).
    This raises the mmap and trim thresholds (``ALLOCATOR_SETTINGS``, via ``mallopt``), the
    in-process equivalent of ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647``.
    The setting lasts for the life of the process: memory it has freed stays mapped for reuse,
    which costs some resident memory (~+250 MB for the demo network on a 720p video).

    Returns True when applied; False, changing nothing, where the C library is not glibc, or
    where the user already chose through the ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TOP_PAD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` environment variables.
    """
    if any(f"MALLOC_{name.upper()}_" in os.environ for name in _MALLOPT):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(_MALLOPT[name], ctypes.c_int(value)) == 1
                   for name, value in ALLOCATOR_SETTINGS.items())
    except (OSError, AttributeError):
        return False


_DTYPE_NAMES = {
    "float32": None, "fp32": None, "off": None, "none": None,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_autocast_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype to use, or ``None`` for plain fp32.

    ``None``/"auto": CUDA -> bf16 when supported else fp16; CPU -> bf16 only with AMX-BF16
    tile units (where bf16 convolutions run several times faster than fp32), else fp32.
    CPUs with AVX512-BF16 alone (e.g. AMD Zen 4/5) stay in fp32: there bf16 made
    ``predict_video`` only ~1.3x faster than its fp32 path while changing the maps (per-frame
    CC against fp32 maps 0.95-0.98 for the full-size network with random weights;
    ``benchmarks/bench_inference.py``); ask for "bfloat16" to use it anyway.
    "float32"/"off" forces fp32.
    """
    if isinstance(dtype, torch.dtype):
        return None if dtype == torch.float32 else dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu":
            return torch.bfloat16 if "amx_bf16" in cpu_flags() else None
        return None
    key = str(dtype).lower()
    if key not in _DTYPE_NAMES:
        raise ValueError(f"dtype={dtype!r}: expected 'auto', 'float32', 'bfloat16' or 'float16'")
    resolved = _DTYPE_NAMES[key]
    if resolved == torch.float16 and device.type == "cpu":
        raise ValueError("dtype='float16' is not supported on CPU; use 'bfloat16' or 'float32'")
    return resolved


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype``, or a no-op context for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """Store every 5-D weight channels-last-3d and every 4-D weight channels-last, in place.

    ``Module.to(memory_format=torch.channels_last_3d)`` refuses modules that mix Conv3d and
    Conv2d (DSAM, SoundNet), hence this per-tensor conversion.
    """
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.dim() == 5:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last_3d)
        elif tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return module


def make_autocast_safe(module: torch.nn.Module) -> torch.nn.Module:
    """Let ops that autocast does not cover run under autocast (in place, idempotent).

    ``F.bilinear`` (the L3 localization, eq. 5) is on no autocast list, so under CPU/CUDA
    autocast it receives bf16 activations with fp32 weights and fails; a pre-hook casts its
    inputs to the weight dtype (that op then runs in fp32).
    """
    for sub in module.modules():
        if isinstance(sub, torch.nn.Bilinear) and not getattr(sub, "_stavis_autocast_safe", False):
            sub.register_forward_pre_hook(_cast_inputs_to_weight)
            sub._stavis_autocast_safe = True  # type: ignore[attr-defined]
    return module


def _cast_inputs_to_weight(mod: torch.nn.Module, args: tuple) -> tuple:
    dtype = mod.weight.dtype
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)


def channels_last_input(clips: torch.Tensor) -> torch.Tensor:
    """(B,3,T,H,W) clips in channels-last-3d memory order."""
    return clips.contiguous(memory_format=torch.channels_last_3d)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Temporarily set ``torch.set_num_threads`` (restored afterwards); ``None`` = unchanged."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
