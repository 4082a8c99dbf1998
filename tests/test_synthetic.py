"""The synthetic audio-visual benchmark (synthetic.py): determinism, layout, and that audio matters."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stavis_lib.data.audio import clip_audio
from stavis_lib.data.layout import ReleaseLayout
from stavis_lib.errors import UserError
from stavis_lib.data.maps import dense_map, read_gaze_npz
from stavis_lib.cli.data import synth_main
from stavis_lib.data.synthetic import (
    DB_NAME,
    DEFAULT_CLASSES,
    SyntheticConfig,
    generate_benchmark,
    read_benchmark_config,
    simulate_video,
    split_folds,
)

TINY = SyntheticConfig(width=64, height=48, frames=(20, 26), n_viewers=6)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> tuple[Path, Path]:
    a = generate_benchmark(tmp_path_factory.mktemp("synth_a"), n_videos=3, seed=7, config=TINY, progress=False)
    b = generate_benchmark(tmp_path_factory.mktemp("synth_b"), n_videos=3, seed=7, config=TINY, progress=False)
    return a, b


@pytest.fixture(scope="module")
def videos():
    """Default-size videos in memory (no files): enough bursts for statistics."""
    return [simulate_video(3, i) for i in range(12)]


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_files(tiny_runs):
    a, b = tiny_runs
    files = _files(a)
    assert files == _files(b)
    kinds = {p.suffix for p in files}
    assert kinds == {".jpg", ".wav", ".mat", ".txt", ".npz", ".mp4", ".json"}
    for rel in files:
        # byte-identical, mp4 (bitexact two-pass mux) and .mat (fixed header text) included
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_same_seed_gives_identical_decoded_mp4(tiny_runs):
    from stavis_lib.data.media import probe_video, read_frames

    a, b = tiny_runs
    layout = ReleaseLayout(a)
    for mp4 in sorted((a / "videos" / DB_NAME).glob("*.mp4")):
        other = b / mp4.relative_to(a)
        np.testing.assert_array_equal(read_frames(mp4), read_frames(other))
        info = probe_video(mp4)
        assert info.has_audio and info.audio_rate == 22050
        assert (info.width, info.height) == (TINY.width, TINY.height)
        assert info.n_frames == layout.count_frames(DB_NAME, mp4.stem)


def test_video_depends_only_on_seed_and_index():
    v1 = simulate_video(5, 2, TINY)
    v2 = simulate_video(5, 2, TINY)
    np.testing.assert_array_equal(v1.frames, v2.frames)
    np.testing.assert_array_equal(v1.audio, v2.audio)
    np.testing.assert_array_equal(v1.gaze_x, v2.gaze_x)
    other = simulate_video(6, 2, TINY)
    assert other.frames.shape != v1.frames.shape or not np.array_equal(other.frames, v1.frames)


def test_layout_read_back(tiny_runs):
    root, _ = tiny_runs
    layout = ReleaseLayout(root)
    seen_test = []
    for k in (1, 2, 3):
        train = layout.read_fold_list(DB_NAME, "train", k)  # checks frame folders and counts
        test = layout.read_fold_list(DB_NAME, "test", k)
        assert {e.name for e in train}.isdisjoint(e.name for e in test)
        assert len(train) + len(test) == 3 and all(e.fps == 25.0 for e in train + test)
        seen_test += [e.name for e in test]
    assert sorted(seen_test) == ["synth_0000", "synth_0001", "synth_0002"]  # each video tested once

    video = simulate_video(7, 1, TINY)
    assert layout.count_frames(DB_NAME, video.name) == video.n_frames
    frame = layout.read_frame(DB_NAME, video.name, 5)
    assert frame.shape == (48, 64, 3)
    assert np.abs(frame.astype(int) - video.frames[4]).mean() < 4  # JPEG round trip
    wave, rate = layout.read_audio(DB_NAME, video.name)
    assert rate == 22050 and len(wave) == round(video.n_frames / 25 * 22050)
    np.testing.assert_allclose(wave, video.audio, atol=1 / 128 + 1e-6)
    for index in (1, 10, video.n_frames):
        fix = layout.read_fixations(DB_NAME, video.name, index)
        np.testing.assert_array_equal(fix, video.fixations(index - 1))
        assert 0 < fix.sum() <= TINY.n_viewers
        dense = layout.read_dense(DB_NAME, video.name, index)
        np.testing.assert_allclose(dense, dense_map(fix, TINY.sigma), atol=0.05)

    gaze = read_gaze_npz(root / "gaze" / DB_NAME / f"{video.name}.npz")
    assert gaze["x"].shape == (TINY.n_viewers, video.n_frames)
    np.testing.assert_array_equal(gaze["x"], video.gaze_x)
    assert np.isnan(gaze["x"]).any() and np.nanmax(gaze["x"]) < 64 and np.nanmin(gaze["y"]) >= 0
    assert gaze["boxes"].shape == (len(gaze["object_class"]), video.n_frames, 4)
    np.testing.assert_array_equal(gaze["sounding"], video.sounding)
    assert list(gaze["class_names"]) == [c.name for c in TINY.classes]


def test_appearance_does_not_depend_on_sound():
    # frames are drawn before the sound schedule: a different schedule leaves every pixel unchanged
    quiet = replace(TINY, burst=(0.2, 0.3), gap=(1.0, 2.0))
    v1, v2 = simulate_video(1, 0, TINY), simulate_video(1, 0, quiet)
    np.testing.assert_array_equal(v1.frames, v2.frames)
    assert not np.array_equal(v1.sounding, v2.sounding)


def test_one_source_at_a_time_and_every_class_sounds(videos):
    for v in videos:
        starts, ends = v.bursts[:, 0], v.bursts[:, 1]
        assert np.all(starts[1:] >= ends[:-1])  # bursts never overlap
        assert np.all(v.bursts[1:, 2] != v.bursts[:-1, 2])  # consecutive bursts change source
        assert 3 <= len(v.object_class) <= 4 and len(set(v.object_class.tolist())) == len(v.object_class)
    classes = np.concatenate([v.sounding_class for v in videos])
    counts = np.bincount(classes[classes >= 0], minlength=4)
    assert np.all(counts > 0.1 * counts.sum())  # no class dominates the sound


def _audio_features(wave: np.ndarray, rate: int) -> np.ndarray:
    spec = np.abs(np.fft.rfft(wave))
    freqs = np.fft.rfftfreq(len(wave), 1 / rate)
    edges = np.geomspace(100, 5000, 49)
    bands = np.array([spec[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    feat = np.log1p(bands)
    return feat / (np.linalg.norm(feat) + 1e-9)


def test_audio_window_predicts_the_sounding_class(videos):
    """A nearest-centroid classifier on the FFT of the official audio window of a 16-frame clip.

    Frames whose median instant has a sounding object are classified among the 4 classes (chance
    about 1/4); centroids come from 8 videos, accuracy is measured on 4 others.
    """
    rate = SyntheticConfig().audio_rate
    feats, labels, groups = [], [], []
    for g, v in enumerate(videos):
        for f in range(8, v.n_frames - 8, 2):
            if v.sounding_class[f] < 0:
                continue
            clip = clip_audio(v.audio, rate, 25.0, f - 8, f + 7)  # clip whose median frame is f
            feats.append(_audio_features(clip, rate))
            labels.append(int(v.sounding_class[f]))
            groups.append(g)
    feats, labels, groups = np.array(feats), np.array(labels), np.array(groups)
    train, test = groups < 8, groups >= 8
    classes = np.unique(labels[train])
    assert classes.tolist() == [0, 1, 2, 3]
    centroids = np.stack([feats[train & (labels == c)].mean(0) for c in classes])
    pred = classes[np.argmin(((feats[test][:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    accuracy = float((pred == labels[test]).mean())
    majority = np.bincount(labels[test]).max() / test.sum()
    assert test.sum() > 50
    print(f"audio class accuracy {accuracy:.3f} (majority class {majority:.3f})")
    assert accuracy > 0.9 and accuracy > 2 * majority, (accuracy, majority)


def _box_mass(dense: np.ndarray, box: np.ndarray) -> float:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return float(dense[max(y0, 0):y1, max(x0, 0):x1].mean())


def test_fixation_density_sits_on_the_sounding_object(videos):
    wins, frames, on_sound, on_silent = 0, 0, [], []
    for v in videos:
        boxes = v.boxes
        for f in range(v.n_frames):
            s = int(v.sounding[f])
            if s < 0 or f < 10 or np.any(v.sounding[f - 10:f] != s):  # sound on for >= 400 ms (past latency)
                continue
            dense = v.dense(f)
            masses = [_box_mass(dense, boxes[k, f]) for k in range(len(v.object_class))]
            silent = [m for k, m in enumerate(masses) if k != s]
            wins += masses[s] > max(silent)
            frames += 1
            on_sound.append(masses[s])
            on_silent += silent
    assert frames > 200
    assert wins / frames > 0.8, wins / frames
    assert np.mean(on_sound) > 4 * np.mean(on_silent)


def test_viewers_react_to_onsets_with_latency(videos):
    """After an onset, gaze on the new source rises from near nothing to most viewers within ~0.5 s."""
    share = []
    for v in videos:
        onsets = [f for f in range(1, v.n_frames) if v.sounding[f] >= 0 and v.sounding[f] != v.sounding[f - 1]]
        for f in onsets:
            if f + 14 <= v.n_frames and np.all(v.sounding[f:f + 14] == v.sounding[f]):
                share.append([(v.target[:, f + d] == v.sounding[f]).mean() for d in range(14)])
    share = np.mean(share, axis=0)
    assert share[:3].max() < 0.35  # nobody reacts within 120 ms (only viewers already there, ~1 in 4)
    assert share[10:].min() > 0.7  # 400-560 ms after the onset most viewers are on the source


def test_split_folds_partition():
    names = [f"v{i}" for i in range(10)]
    splits = split_folds(names, 3, seed=0)
    tests = sorted(n for _, t in splits for n in t)
    assert tests == sorted(names)
    assert all(sorted(tr + te) == sorted(names) and len(te) in (3, 4) for tr, te in splits)
    with pytest.raises(ValueError, match="at least 3"):
        split_folds(["a", "b"], 3, seed=0)


def test_config_validation():
    with pytest.raises(ValueError, match="objects"):
        SyntheticConfig(objects=(3, 5), n_classes=4)
    with pytest.raises(ValueError, match="n_classes"):
        SyntheticConfig(n_classes=len(DEFAULT_CLASSES) + 1)
    assert SyntheticConfig.from_dict(TINY.to_dict()) == TINY


def test_cli(tmp_path, capsys):
    rc = synth_main([str(tmp_path / "out"), "--videos", "3", "--seed", "1", "--size", "48x32", "--viewers", "4",
                     "--no-mp4", "--quiet"])
    assert rc == 0
    assert "wrote 3 synthetic videos" in capsys.readouterr().out
    layout = ReleaseLayout(tmp_path / "out")
    entries = layout.read_fold_list(DB_NAME, "test", 2)
    assert layout.read_frame(DB_NAME, entries[0].name, 1).shape == (32, 48, 3)
    assert not (tmp_path / "out" / "videos").exists()
    with pytest.raises(SystemExit):
        synth_main([str(tmp_path / "bad"), "--size", "48by32"])
    with pytest.raises(UserError, match="--videos 2"):
        synth_main([str(tmp_path / "bad"), "--videos", "2"])
    assert not (tmp_path / "bad").exists()


def test_config_file_and_rerun_over_a_longer_video(tmp_path):
    long_cfg = replace(TINY, frames=(30, 30), write_mp4=False)
    short_cfg = replace(TINY, frames=(20, 20), write_mp4=False)
    generate_benchmark(tmp_path, n_videos=3, seed=2, config=long_cfg, progress=False)
    generate_benchmark(tmp_path, n_videos=3, seed=2, config=short_cfg, progress=False)
    cfg, seed, n = read_benchmark_config(tmp_path)
    assert (cfg, seed, n) == (short_cfg, 2, 3)
    layout = ReleaseLayout(tmp_path)
    entries = layout.read_fold_list(DB_NAME, "train", 1)  # no stale frames 21..30 from the first run
    assert all(e.n_frames == 20 for e in entries)
    assert not layout.eyemap_path(DB_NAME, entries[0].name, 21).exists()
    with pytest.raises(FileNotFoundError, match="synthetic_config.json"):
        read_benchmark_config(tmp_path / "elsewhere")
