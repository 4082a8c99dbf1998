"""tune_cpu_allocator: glibc keeps freed activation memory (page faults measured), and who applies it."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import stavis_lib
import stavis_lib.inference.predict as predict
import stavis_lib.runtime as runtime
from stavis_lib.model import build_model
from stavis_lib.inference import predict_video
from stavis_lib.runtime import tune_cpu_allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Allocate, touch, free and re-allocate a 64 MiB block (16384 pages of 4 KiB); count the minor
# page faults of the second allocation. glibc's default unmaps the freed block (every page
# faults again); tuned, the block stays in the heap and its pages are already resident.
_REFAULTS = textwrap.dedent("""
    import ctypes, resource, sys
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    def refaults():
        n = 64 << 20
        p = libc.malloc(n); ctypes.memset(p, 1, n); libc.free(ctypes.c_void_p(p))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        p = libc.malloc(n); ctypes.memset(p, 1, n)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        libc.free(ctypes.c_void_p(p))
        return after - before
    default = refaults()
    sys.path.insert(0, sys.argv[1])
    from stavis_lib.runtime import tune_cpu_allocator
    applied = tune_cpu_allocator()
    refaults()  # the first block after tuning comes from the heap and is touched once
    print(default, applied, refaults())
""")


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's; other C libraries are left alone")
def test_tuned_allocator_reuses_freed_pages():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    repo = str(Path(stavis_lib.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", _REFAULTS, repo], capture_output=True, text=True, env=env,
                         check=True, timeout=120).stdout.split()
    default, applied, tuned = int(out[0]), out[1], int(out[2])
    assert applied == "True"
    assert default >= 16384 * 0.9  # glibc's default: every page of the block faults in again
    assert tuned <= 16384 * 0.1    # tuned: the freed pages are reused


def test_user_environment_settings_are_respected(monkeypatch):
    def no_libc(*args, **kwargs):
        raise AssertionError("mallopt must not be called when the user set MALLOC_* variables")

    monkeypatch.setattr(runtime.ctypes, "CDLL", no_libc)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert tune_cpu_allocator() is False


def test_other_c_libraries_are_left_alone(monkeypatch):
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert tune_cpu_allocator() is False
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: (_ for _ in ()).throw(OSError(name)))
    assert tune_cpu_allocator() is False


def test_predict_video_tunes_the_allocator_on_the_cpu_unless_told_not_to(monkeypatch):
    calls = []
    monkeypatch.setattr(predict, "tune_cpu_allocator", lambda: calls.append(1) or True)
    model = build_model("visual", depth=10, width=8, sample_size=32, sample_duration=16).eval()
    frames = np.random.default_rng(0).integers(0, 256, size=(18, 40, 52, 3), dtype=np.uint8)
    kw = dict(fps=25.0, progress=False, device="cpu")
    assert predict_video(frames, model, **kw).allocator_tuned and calls == [1]
    assert not predict_video(frames, model, tune_allocator=False, **kw).allocator_tuned and calls == [1]
