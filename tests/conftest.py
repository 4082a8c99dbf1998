"""Shared pytest fixtures: paths to the real material in ../shared and small torch settings."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STAVIS_SHARED", REPO.parent / "shared"))


def _torch_threads() -> None:
    # One intra-op thread: two threads spin-wait badly when the 2 cores are shared (measured 160 s vs 12 s).
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("STAVIS_TEST_THREADS", "1")))
    except ImportError:  # pragma: no cover - torch is a hard requirement
        pass


_torch_threads()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real test material not found at {SHARED} (set STAVIS_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def media_dir(shared_dir: Path) -> Path:
    path = shared_dir / "media"
    if not path.is_dir():
        pytest.skip(f"real clips not found at {path}")
    return path


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    path = shared_dir / "reference"
    if not path.is_dir():
        pytest.skip(f"reference manifests not found at {path}")
    return path
