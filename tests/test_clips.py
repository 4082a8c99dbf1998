"""Clips (§3.6): normalisation, one window per frame, training segments, flips, targets, audio, caching.

A toy database is written in the release layout: frame i carries its index in the red channel
(10*i) and a left/right pattern in green; its fixation sits at row 1+i, column 3 (left side),
so every item can be decoded back to the frames, target and flip it used.
"""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import torch
import torchaudio.functional as AF
from scipy.io import wavfile
from torch.utils.data import DataLoader

from stavis_lib.data import clips
from stavis_lib.data.audio import clip_audio
from stavis_lib.data.clips import (ACTIVITYNET_MEAN, DataConfig, FrameCache, TrainClips, VideoWindows,
                                   normalize_clip, segment_bounds, window_indices)
from stavis_lib.data.layout import LayoutError, ReleaseLayout, VideoEntry

H, W, FPS, S = 30, 40, 10.0, 32
LENGTHS = {"a": 20, "b": 7}


def _make_toy(root):
    layout = ReleaseLayout(root)
    for name, n in LENGTHS.items():
        frames = []
        for i in range(n):
            f = np.zeros((H, W, 3), np.uint8)
            f[..., 0] = 10 * i
            f[:, : W // 2, 1] = 200
            frames.append(f)
        layout.write_frames("Toy", name, frames)
        dense, fix = [], []
        for i in range(n):
            m = np.zeros((H, W), bool)
            m[1 + i, 3] = True
            fix.append(m)
            d = np.zeros((H, W), np.float32)
            d[1 + i, 3] = 1.0
            dense.append(d)
        layout.write_maps("Toy", name, dense, fix)
        t = np.arange(int(16000 * n / FPS)) / 16000
        tone = (100 * np.sin(2 * np.pi * (300 + 100 * len(name) + n) * t)).astype(np.float32)
        layout.write_audio("Toy", name, tone, 16000)  # not 22.05 kHz: resampled by the dataset
    layout.write_fold_list("Toy", "train", 1, [VideoEntry("a", 20, FPS), VideoEntry("b", 7, FPS)])
    layout.write_fold_list("Toy", "test", 1, [VideoEntry("b", 7, FPS)])
    return layout


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return _make_toy(tmp_path_factory.mktemp("toy"))


@pytest.fixture()
def config(toy, tmp_path):
    return DataConfig(root=str(toy.root), datasets=("Toy",), split=1, sample_size=S, segment_length=8,
                      cache_dir=str(tmp_path / "cache"), intermediate_size=None)


def _frame_ids(item):
    red = item["frames"][0] + ACTIVITYNET_MEAN[0]  # (T, S, S)
    return torch.round(red.mean(dim=(1, 2)) / 10).long().numpy()


def _flipped(item):
    green = item["frames"][1] + ACTIVITYNET_MEAN[1]
    return bool(green[:, :, -1].mean() > green[:, :, 0].mean())


def test_normalize_clip_official_values():
    x = np.zeros((2, 3, 4, 3), np.uint8)
    x[..., 0], x[..., 1], x[..., 2] = 255, 100, 0
    y = normalize_clip(x)
    assert y.shape == (3, 2, 3, 4) and y.dtype == torch.float32
    assert torch.allclose(y[0], torch.tensor(255 - 114.7748))
    assert torch.allclose(y[1], torch.tensor(100 - 107.7354))
    assert torch.allclose(y[2], torch.tensor(0 - 99.4750))
    assert normalize_clip(torch.from_numpy(np.stack([x, x]))).shape == (2, 3, 2, 3, 4)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100])
def test_one_window_per_frame(n):
    w = window_indices(n, 16)
    assert w.shape == (n, 16)
    assert w.min() >= 0 and w.max() <= n - 1
    np.testing.assert_array_equal(w[:, 8], np.arange(n))  # every frame predicted exactly once, at slot 8
    assert np.all(np.diff(w, axis=1) >= 0)  # frames in temporal order


def test_window_edges_and_official_interior():
    w = window_indices(100)
    np.testing.assert_array_equal(w[0], [0] * 9 + [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(w[99], list(range(91, 100)) + [99] * 7)
    np.testing.assert_array_equal(w[50], np.arange(42, 58))
    # official: the window starting at 1-based frame j (frames j..j+15) is saved as pred_sal_{j+8},
    # i.e. it predicts 0-based frame j+7; our window for that frame holds the same frames.
    for j in range(1, 100 - 15 + 1):
        np.testing.assert_array_equal(w[j + 7] + 1, np.arange(j, j + 16))
    np.testing.assert_array_equal(window_indices(1), np.zeros((1, 16), int))
    np.testing.assert_array_equal(window_indices(3)[1], [0] * 7 + [0, 1, 2, 2, 2, 2, 2, 2, 2])
    with pytest.raises(ValueError):
        window_indices(0)


def test_segments():
    assert segment_bounds(200, 90) == [(0, 90), (90, 180), (180, 200)]
    assert segment_bounds(90, 90) == [(0, 90)]
    assert segment_bounds(91, 90) == [(0, 90), (90, 91)]
    assert segment_bounds(5, 90) == [(0, 5)]


def test_train_items_decode_to_their_windows(config):
    ds = TrainClips(config, seed=3)
    assert len(ds) == 4  # a: [0,8) [8,16) [16,20); b: [0,7)
    for i in range(len(ds)):
        item = ds[i]
        assert item["frames"].shape == (3, 16, S, S)
        assert item["audio"].shape == (35280,) and item["audio"].dtype == torch.float32
        assert item["dense"].shape == (1, S, S) and item["fix"].shape == (1, S, S)
        video = item["video"].split("/")[1]
        n = LENGTHS[video]
        window = window_indices(n)[item["frame"]]  # every training clip is a test window
        np.testing.assert_array_equal(_frame_ids(item), window)
        np.testing.assert_array_equal(ds.clip_window(i), window)
        _, start, stop = ds.segments[i]
        assert start <= item["frame"] < stop  # the target lies in the item's segment


def test_target_is_the_centre_frame_and_flip_is_shared(config):
    ds = TrainClips(config, seed=0)
    flips = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            flipped = _flipped(item)
            flips.add(flipped)
            rows, cols = np.nonzero(item["fix"][0].numpy())
            assert len(rows) == 1  # the single fixation survives the resize
            assert rows[0] == int((1 + item["frame"] + 0.5) * S / H)  # fixation row encodes the target frame
            left_col = int((3 + 0.5) * S / W)
            assert cols[0] == (S - 1 - left_col if flipped else left_col)  # same flip as the frames
            assert np.unravel_index(int(item["dense"][0].argmax()), (S, S))[1] == cols[0]
            assert set(item["fix"].unique().tolist()) <= {0.0, 1.0}
    assert flips == {True, False}


def test_determinism_and_epochs(config):
    a, b = TrainClips(config, seed=7), TrainClips(config, seed=7)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert torch.equal(x["frames"], y["frames"]) and x["frame"] == y["frame"]
    targets = set()
    for epoch in range(10):
        a.set_epoch(epoch)
        targets.add(a[0]["frame"])
    assert len(targets) > 2  # a new random clip each epoch


def test_full_segments_keep_the_clip_inside(config):
    cfg = DataConfig(**{**config.to_dict(), "segment_length": 90})
    ds = TrainClips(cfg, seed=1)
    assert len(ds) == 2
    seen = set()
    for epoch in range(20):
        ds.set_epoch(epoch)
        item = ds[0]  # video a, 20 frames >= 16: a 16-frame clip of distinct frames
        ids = _frame_ids(item)
        assert len(set(ids)) == 16 and ids[0] >= 0 and ids[-1] <= 19
        seen.add(int(ids[0]))
    assert seen <= set(range(0, 5)) and len(seen) > 1


def test_audio_matches_the_formula_for_every_video(config, toy):
    ds = TrainClips(config, seed=0)
    for i in range(len(ds)):  # includes the last video of the list (official bug: silent)
        item = ds[i]
        name = item["video"].split("/")[1]
        rate, raw = wavfile.read(toy.audio_path("Toy", name))
        wave = AF.resample(torch.from_numpy(raw.astype(np.float32) / 128), rate, 22050).numpy()
        window = ds.clip_window(i)
        expected = clip_audio(wave, 22050, FPS, int(window.min()), int(window.max()))
        assert np.abs(item["audio"].numpy()).max() > 10
        np.testing.assert_allclose(item["audio"].numpy(), expected, atol=1e-2)


def test_frames_decoded_once_into_a_memmap(toy, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(toy.root, root)
    cfg = DataConfig(root=str(root), datasets=("Toy",), split=1, sample_size=S, segment_length=8,
                     cache_dir=str(tmp_path / "cache"))  # official 320x240 intermediate resize
    ds = TrainClips(cfg)
    cache = cfg.frame_cache()
    path = cache.frames_path("Toy", "a")
    assert path.is_file()
    arr = np.load(path, mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape == (20, S, S, 3) and arr.dtype == np.uint8
    mtime = path.stat().st_mtime_ns
    shutil.rmtree(root / "video_frames")  # no JPEG left: items must come from the cache
    for i in range(len(ds)):
        np.testing.assert_array_equal(_frame_ids(ds[i]), ds.clip_window(i))
    cfg2 = DataConfig(**{**cfg.to_dict(), "check_layout": False})
    TrainClips(cfg2)[0]  # reuses the cache without any frame on disk
    assert path.stat().st_mtime_ns == mtime


def test_cache_is_rebuilt_when_the_frames_change(toy, tmp_path):
    root = tmp_path / "regen"
    shutil.copytree(toy.root, root)
    cfg = DataConfig(root=str(root), datasets=("Toy",), split=1, sample_size=S, segment_length=8,
                     cache_dir=str(tmp_path / "cache"), intermediate_size=None)
    vw = VideoWindows.from_layout(cfg, "Toy", "b")
    assert _frame_ids(vw[3])[8] == 3
    layout = ReleaseLayout(root)
    shutil.rmtree(layout.frames_dir("Toy", "b"))  # regenerate the video with other content
    layout.write_frames("Toy", "b", [np.full((H, W, 3), 250, np.uint8)] * 7)
    fresh = VideoWindows.from_layout(cfg, "Toy", "b")
    assert (_frame_ids(fresh[3]) == 25).all()


def test_cached_maps_equal_lazy_maps(config):
    lazy = TrainClips(config, seed=2)
    cached = TrainClips(DataConfig(**{**config.to_dict(), "cache_maps": True}), seed=2)
    for i in range(len(lazy)):
        x, y = lazy[i], cached[i]
        assert torch.equal(x["fix"], y["fix"])
        assert torch.allclose(x["dense"], y["dense"], atol=1 / 255)


def test_video_windows_short_video(config):
    vw = VideoWindows.from_layout(config, "Toy", "b")
    assert len(vw) == 7  # one item per frame although the video is shorter than 16 frames
    for i in range(7):
        item = vw[i]
        assert item["frame"] == i and item["video"] == "Toy/b"
        np.testing.assert_array_equal(_frame_ids(item), window_indices(7)[i])
        assert not _flipped(item)
        assert item["fix"].sum() == 1 and item["audio"].abs().max() > 10
    with pytest.raises(IndexError):
        vw[7]
    windows = clips.split_windows(config)
    assert [w.name for w in windows] == ["Toy/b"]


def test_dataloader_workers_give_the_same_batches(config):
    ds = TrainClips(config, seed=5)
    b0 = next(iter(DataLoader(ds, batch_size=4, num_workers=0)))
    b2 = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    assert b0["frames"].shape == (4, 3, 16, S, S) and b0["audio"].shape == (4, 35280)
    assert torch.equal(b0["frames"], b2["frames"]) and torch.equal(b0["fix"], b2["fix"])
    assert b0["video"] == b2["video"]


def test_bad_layout_errors(toy, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(toy.root, root)
    layout = ReleaseLayout(root)
    layout.write_fold_list("Toy", "train", 2, [VideoEntry("a", 21, FPS)])
    cfg = DataConfig(root=str(root), datasets=("Toy",), split=2, sample_size=S, cache_dir=str(tmp_path / "c"))
    with pytest.raises(LayoutError, match="Toy_list_train_2_fps.txt.*mismatch"):
        TrainClips(cfg)
    layout.write_fold_list("Toy", "train", 3, [VideoEntry("a", 20, FPS)])
    layout.audio_path("Toy", "a").unlink()
    cfg3 = DataConfig(**{**cfg.to_dict(), "split": 3})
    with pytest.raises(LayoutError, match=r"a\.wav"):
        TrainClips(cfg3)
    layout.eyemap_path("Toy", "a", 9).unlink()
    with pytest.warns(UserWarning, match=r"a\.wav: missing audio file"):
        ds = TrainClips(DataConfig(**{**cfg3.to_dict(), "require_audio": False, "segment_length": 90}))
    with pytest.raises(LayoutError, match=r"eyeMap_00009\.jpg"):
        for epoch in range(30):  # the clip targets frames 8..12 (1-based 9..13): one hits the missing map
            ds.set_epoch(epoch)
            ds[0]


def test_video_file_windows(media_dir, tmp_path):
    path = media_dir / "park.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    vw = VideoWindows.from_file(path, sample_size=S, cache_dir=tmp_path)
    assert len(vw) == 17  # 0.55 s clip, fewer frames than one window
    item = vw[16]
    assert item["frames"].shape == (3, 16, S, S) and "dense" not in item
    assert item["audio"].abs().max() > 1
    assert isinstance(vw.frames, np.memmap)
    cache = FrameCache(tmp_path, S)
    assert cache.frames_from_video(path).shape == (17, S, S, 3)


def test_training_items_are_fast(config):
    cfg = DataConfig(**{**config.to_dict(), "sample_size": 112})
    ds = TrainClips(cfg, seed=0)
    ds[0]
    start = time.perf_counter()
    n = 0
    for epoch in range(8):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            ds[i]
            n += 1
    rate = n / (time.perf_counter() - start)
    assert rate > 20, f"only {rate:.1f} training items/s at 112x112"
