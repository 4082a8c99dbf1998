"""Shared pytest fixtures: the shipped test material (``tests/data``, ``assets/media``), material
that cannot ship (``STAVIS_SHARED``), small torch settings, and ``calibrated`` (tiny networks
whose maps have structure)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
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
    """Material that cannot ship with the repository (the paper's text, DIEM gaze under a
    non-commercial licence); tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"material that is not shipped (paper text, DIEM gaze) not found at {SHARED} (set STAVIS_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The real clips with sound shipped in ``assets/media`` (licences in ``assets/LICENSES.md``)."""
    return REPO / "assets" / "media"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``tests/data``: the official fold lists (``fold_lists/``) and checkpoint manifests
    (``reference/``), shipped with the tests (``tests/data/LICENSES.md``)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """JSON manifests of the official checkpoints: key names, shapes, dtypes, optimiser groups."""
    return TEST_DATA / "reference"


@pytest.fixture(scope="session")
def diem_gaze_root(shared_dir: Path) -> Path:
    """Raw DIEM gaze files (CC BY-NC-SA: not shipped with the repository)."""
    path = shared_dir / "data" / "diem_gaze"
    if not path.is_dir():
        pytest.skip(f"DIEM gaze files (not shipped: non-commercial licence) not found at {path}")
    return path


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A tiny synthetic benchmark for the evaluation tests (read only): 6 videos of 20-24 frames at
    40x32 (W x H), 5 viewers, 3 splits with 2 test videos each."""
    from stavis_lib.data.synthetic import SyntheticConfig, generate_benchmark

    root = tmp_path_factory.mktemp("synth")
    cfg = SyntheticConfig(width=40, height=32, frames=(20, 24), n_classes=2, objects=(1, 2), n_viewers=5,
                          write_mp4=False)
    generate_benchmark(root, n_videos=6, seed=0, config=cfg, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_av():
    """An untrained tiny audio-visual STAViS (seed 0) in eval mode."""
    import torch

    from stavis_lib.model import build_model

    torch.manual_seed(0)
    return build_model("L3mul_S3", depth=10, width=8, sample_size=32).eval()


def _calibrated(model, head_std: float = 0.3):
    """The model with non-trivial BatchNorm statistics and affine parameters (a folding test
    against the default mean 0 / var 1 / gamma 1 / beta 0 would barely change any weight) and
    head convolutions drawn from N(0, head_std) instead of the official N(0, 0.001), whose maps
    are nearly flat."""
    import torch

    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
                module.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.2)
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.2)
            elif isinstance(module, torch.nn.Conv2d) and module.weight.abs().max() < 0.01:
                torch.nn.init.normal_(module.weight, 0.0, head_std, generator=gen)  # heads: maps with structure
    return model


@pytest.fixture(scope="session")
def calibrated():
    """``calibrated(model, head_std=0.3)``: the model (changed in place) with non-trivial BatchNorm
    statistics and heads from N(0, head_std), so that its maps have structure."""
    return _calibrated
