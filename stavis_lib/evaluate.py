"""Evaluation over dataset splits: metric tables like the paper's, baselines, and the audio test.

STAViS (CVPR 2020, §4.2, Tables 1-4) scores every test frame of every video of each split with
CC, NSS, AUC-J, sAUC and SIM (MIT benchmark conventions, :mod:`stavis_lib.metrics`) and
averages per video. The official MATLAB scripts then average a dataset's video means in one of
two ways (:func:`averaging_rule`): DIEM takes the mean of its split means, every other dataset
pools the test videos of its three splits (one mean over all of them). This module does the
same for the release layout (any dataset, including the synthetic benchmark) and writes:

* ``frames.csv`` (one row per method, video and frame), ``videos.csv``, ``splits.csv``
  (per dataset and split), ``datasets.csv`` (per dataset, averaged by the chosen rule, plus an
  ``ALL`` row that averages the datasets) and ``tables.md`` with the same tables in markdown;
* ``plots/<db>/<video>_split<k>.png``: NSS over time per video, one line per method;
* optionally the model's predictions: ``<pred_dir>/<db>/<video>/pred_sal_%06d.jpg`` and
  ``<pred_dir>/<db>/<video>.npz`` (uint8 maps).

Prediction (test path): the step-1 sliding window of :func:`stavis_lib.inference.predict_video`
at the model's resolution, the per-frame min-max of the official saved maps, then the official
post-processing (:func:`stavis_lib.metrics.postprocess_prediction`: Gaussian sigma 2, 13x13,
resize to the GT size).

Reference lines scored in every table (rows of the ``method`` column):

* ``centre bias``: a centred Gaussian with std ``centre_sigma`` x (H, W);
* ``mean GT (train)``: the mean dense map of the split's *training* videos;
* ``human (LOO)``: where per-viewer gaze exists (``gaze/<db>/<video>.npz``), each viewer's
  fixation is predicted by the dense map of the other viewers (the GT's Gaussian: the gaze
  file's ``sigma``, the synthetic config's, or ``human_sigma``); NSS,
  AUC-J and sAUC are averaged over viewers. CC, SIM and KLD are left NaN for this line: they
  compare against the dense GT, which contains the held-out viewer.

The audio-dependence test (:func:`audio_dependence`) scores an audio-visual model with its true
soundtrack, with silence, and with the soundtrack of another video of the split (a fixed
derangement: each video gets the next one's sound in name order), and reports the differences.

Prediction file numbering: the file for frame f (1-based) is ``pred_sal_{f:06d}.jpg``. The
official test code names its i-th map (0-based, the clip starting at frame i+1)
``pred_sal_{i+9:06d}.jpg`` ("start frame + 8", the clip centre) and has no map for the first 8
frames; here every frame has its own window (``clips.window_indices``), so the number is the
frame the map predicts, and the MATLAB code, which pairs pred_sal_N with frame N, reads it as is.
"""
from __future__ import annotations

import argparse
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from stavis_lib import metrics as M
from stavis_lib.data.frames import OFFICIAL_INTERMEDIATE_SIZE, model_frame
from stavis_lib.data.media import resample
from stavis_lib.errors import UserError
from stavis_lib.runtime import resolve_device

__all__ = [
    "EvaluationResult", "VideoTruth", "evaluate_split", "audio_dependence", "predict_maps",
    "centre_bias_map", "mean_gt_map", "human_loo_scores", "other_audio_assignment",
    "summarize", "averaging_rule", "markdown_table", "write_tables", "plot_nss_over_time", "save_predictions", "main",
]

#: Row names of the reference lines in the ``method`` column.
CENTRE = "centre bias"
MEAN_GT = "mean GT (train)"
HUMAN = "human (LOO)"
#: Audio conditions of the audio-dependence test and the suffix they add to the method name.
AUDIO_MODES = {"true": "", "silence": " [silence]", "other": " [other audio]"}
#: Table key columns.
KEYS = ["method", "dataset", "split", "video"]
#: How the per-video scores of a dataset are averaged over its splits (:func:`averaging_rule`).
AVERAGING = ("official", "pooled", "split_means")
#: Datasets whose official evaluation script averages split means (all others pool their videos).
SPLIT_MEAN_DATASETS = frozenset({"DIEM"})


# =========================================================================== ground truth
@dataclass
class VideoTruth:
    """Ground truth of one test video: sparse fixations (all frames) and a reader for dense maps.

    Fixations are kept as flat pixel indices per frame, so the shuffled-AUC negatives of a frame
    (pixels fixated in the other frames of the video, minus its own, :func:`metrics.shuffled_negatives`)
    come from one count map, and long videos never hold (T,H,W) arrays in memory.
    """

    db: str
    video: str
    n_frames: int
    fps: float
    size: tuple[int, int]
    fix_index: list[np.ndarray]
    read_dense: Callable[[int], np.ndarray] = field(repr=False)
    counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        h, w = self.size
        idx = np.concatenate(self.fix_index) if self.fix_index else np.zeros(0, np.int64)
        self.counts = np.bincount(idx, minlength=h * w)

    def fixations(self, start: int, stop: int) -> np.ndarray:
        """(n,H,W) bool fixation maps of frames start..stop-1 (0-based)."""
        h, w = self.size
        out = np.zeros((stop - start, h * w), bool)
        for k, t in enumerate(range(start, stop)):
            out[k, self.fix_index[t]] = True
        return out.reshape(-1, h, w)

    def negatives(self, start: int, stop: int) -> np.ndarray:
        """(n,H,W) bool STAViS sAUC negatives: fixated in another frame, not in this one."""
        fix = self.fixations(start, stop)
        h, w = self.size
        other = (self.counts.reshape(1, h, w) - fix) > 0
        return other & ~fix

    def dense(self, start: int, stop: int) -> np.ndarray:
        """(n,H,W) float32 dense maps of frames start..stop-1 (0-based)."""
        return np.stack([self.read_dense(t) for t in range(start, stop)]).astype(np.float32)


def _count_files(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


def load_truth(layout, db: str, entry, max_frames: int | None = None) -> VideoTruth:
    """Read the fixation maps of one video of a fold list (``layout``: a ``ReleaseLayout``).

    Frames scored: 1..n with n = the fold list's frame count, capped by the frames and
    fixation maps present (like the official MATLAB code, which scores frames <= nframes).
    """
    video = entry.name
    n = int(entry.n_frames)
    n = min(n, _count_files(layout.frame_path(db, video, 1).parent, "img_*.jpg"))
    n = min(n, _count_files(layout.fixmap_path(db, video, 1).parent, "fixMap_*.mat"))
    if max_frames is not None:
        n = min(n, int(max_frames))
    if n <= 0:
        raise FileNotFoundError(f"{layout.frame_path(db, video, 1).parent}: no frames or no fixation maps "
                                f"(expected img_%05d.jpg and fixMap_%05d.mat) for video {video!r} of {db}")
    fix_index, size = [], None
    for t in range(n):
        fix = np.asarray(layout.read_fixations(db, video, t + 1)) > 0
        if size is None:
            size = fix.shape
        elif fix.shape != size:
            raise ValueError(f"{layout.fixmap_path(db, video, t + 1)}: fixation map is {fix.shape}, "
                             f"frame 1 of the video was {size}")
        fix_index.append(np.flatnonzero(fix.ravel()))

    def read_dense(t: int) -> np.ndarray:
        d = np.asarray(layout.read_dense(db, video, t + 1), dtype=np.float32)
        if d.shape != size:
            raise ValueError(f"{layout.eyemap_path(db, video, t + 1)}: dense map is {d.shape}, "
                             f"the fixation maps are {size}")
        return d

    return VideoTruth(db, video, n, float(entry.fps), tuple(size), fix_index, read_dense)


# =========================================================================== predictions


def read_frames_resized(layout, db: str, video: str, n_frames: int, size: int,
                        intermediate: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE) -> np.ndarray:
    """(T,S,S,3) uint8 frames 1..n as the network sees them (``data.frames.model_frame``: the
    official 320x240 bicubic step, then S x S bilinear, aspect not kept), as in training."""
    out = np.empty((n_frames, size, size, 3), np.uint8)
    for t in range(n_frames):
        path = layout.frame_path(db, video, t + 1)
        try:
            with Image.open(path) as im:
                out[t] = model_frame(im, size, intermediate)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read frame {t + 1} of {db}/{video}: {exc}") from exc
    return out


def predict_maps(model: torch.nn.Module, frames: np.ndarray, wave: np.ndarray | None, rate: int, fps: float, *,
                 batch_size: int = 8, device: str | None = None, dtype: str = "float32") -> np.ndarray:
    """(T,S,S) float32 maps in [0,1] at the model's resolution (test path of the paper).

    Step-1 sliding window of :func:`stavis_lib.inference.predict_video` (one window per frame),
    sigmoid of the final map, per-frame min-max (as the official saved predictions).
    ``wave`` on the SoundNet scale at ``rate`` Hz; None feeds silence.
    """
    from stavis_lib.inference import predict_video

    uses_audio = bool(getattr(model.config, "uses_audio", False))
    audio = None
    if uses_audio:
        audio = (np.zeros(max(1, int(round(len(frames) / fps * rate))), np.float32) if wave is None else wave, rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = predict_video(frames, model, audio=audio, fps=fps, batch_size=batch_size, device=device,
                             dtype=dtype, progress=False, map_size="model", normalize="minmax",
                             preprocessed=True)
    return np.asarray(pred.maps, dtype=np.float32)


def other_audio_assignment(videos: Sequence[str]) -> dict[str, str]:
    """Deterministic derangement: in name order, each video gets the soundtrack of the next one.

    A cyclic shift by one, so no video keeps its own sound (needs at least two videos).
    """
    names = sorted(videos)
    if len(names) < 2:
        raise ValueError(f"the 'other audio' condition needs at least two videos, got {names}")
    return {n: names[(i + 1) % len(names)] for i, n in enumerate(names)}


def _fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Tile or crop ``wave`` to ``n`` samples (another video's sound for this video's duration)."""
    if len(wave) == 0:
        return np.zeros(n, np.float32)
    reps = int(math.ceil(n / len(wave)))
    return np.tile(wave, reps)[:n].astype(np.float32)


def _read_audio(layout, db: str, video: str) -> tuple[np.ndarray | None, int]:
    path = layout.audio_path(db, video)
    if not Path(path).is_file():
        warnings.warn(f"{path}: no soundtrack; the model gets silence for {db}/{video}", stacklevel=3)
        return None, 22050
    wave, rate = layout.read_audio(db, video)
    return np.asarray(wave, np.float32).reshape(-1), int(rate)


# =========================================================================== baselines
def centre_bias_map(size: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """Centred Gaussian, std ``sigma`` x height and ``sigma`` x width, peak 1: (H,W) float32."""
    h, w = size
    y = (np.arange(h) + 0.5 - h / 2) / (sigma * h)
    x = (np.arange(w) + 0.5 - w / 2) / (sigma * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)


def mean_gt_map(layout, db: str, entries: Iterable, stride: int = 5, grid: tuple[int, int] | None = None,
                max_frames: int | None = None) -> np.ndarray | None:
    """Mean dense GT map over training videos (every ``stride``-th frame), peak 1.

    Maps are averaged on ``grid`` (default: the size of the first map read), resizing (bilinear)
    videos of other sizes. Returns None when no training map exists.
    """
    total, count = None, 0
    for entry in entries:
        folder = layout.eyemap_path(db, entry.name, 1).parent
        n = min(int(entry.n_frames), _count_files(folder, "eyeMap_*.jpg"))
        if max_frames is not None:
            n = min(n, int(max_frames))
        for t in range(0, n, max(1, int(stride))):
            d = np.asarray(layout.read_dense(db, entry.name, t + 1), np.float64)
            if total is None:
                grid = grid or d.shape
                total = np.zeros(grid)
            if d.shape != tuple(grid):
                d = _resize_bilinear(d[None], grid)[0]
            total += d
            count += 1
    if not count:
        return None
    mean = total / count
    return (mean / mean.max() if mean.max() > 0 else mean).astype(np.float32)


def _resize_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float64))[:, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[:, 0].numpy()


def _gaze_sigma(root: Path, db: str, width: int, sigma: float | None, gaze: dict | None = None) -> float:
    """Gaussian of the human baseline (px): given, else the gaze file's ``sigma``, else the synthetic
    config's, else 5 % of the width."""
    if sigma is not None:
        return float(sigma)
    if gaze is not None and "sigma" in gaze:
        return float(gaze["sigma"])
    cfg_path = root / "synthetic_config.json"
    if cfg_path.is_file():
        import json

        meta = json.loads(cfg_path.read_text())
        if meta.get("db") == db:
            return float(meta["config"]["sigma_fraction"]) * width
    return 0.05 * width


def human_loo_scores(gaze_x: np.ndarray, gaze_y: np.ndarray, truth: VideoTruth, start: int, stop: int,
                     sigma: float, *, sauc: str | None = "exact", seed: int = 0) -> dict[str, np.ndarray]:
    """Leave-one-viewer-out human scores for frames start..stop-1 (0-based).

    For each frame and each viewer v with a valid gaze point, the prediction is the dense map
    (:func:`stavis_lib.data.maps.dense_map`, ``sigma``) of the other viewers' fixations, scored
    against v's fixated pixel with NSS, AUC-J and sAUC (negatives: the frame's sAUC negatives
    minus v's pixel); scores are averaged over viewers. Frames with fewer than two valid viewers
    are NaN; CC, SIM and KLD are NaN (see the module docstring). ``gaze_*`` (viewers, frames) in
    GT pixels.
    """
    from stavis_lib.data.maps import dense_map, fixation_pixels

    h, w = truth.size
    n = stop - start
    out = {k: np.full(n, np.nan) for k in M.METRICS}
    negatives = truth.negatives(start, stop)
    for k, t in enumerate(range(start, stop)):
        if t >= gaze_x.shape[1]:
            continue
        px = fixation_pixels(np.stack([gaze_x[:, t], gaze_y[:, t]], 1), h, w)
        if len(px) < 2:
            continue
        preds, fixes = [], []
        for v in range(len(px)):
            others = np.zeros((h, w), bool)
            rest = np.delete(px, v, axis=0)
            others[rest[:, 0], rest[:, 1]] = True
            own = np.zeros((h, w), bool)
            own[px[v, 0], px[v, 1]] = True
            preds.append(dense_map(others, sigma))
            fixes.append(own)
        pred = np.stack(preds)
        fix = np.stack(fixes)
        out["nss"][k] = np.nanmean(M.nss(torch.from_numpy(pred), torch.from_numpy(fix)).numpy())
        out["auc_judd"][k] = np.nanmean(M.auc_judd(torch.from_numpy(pred), torch.from_numpy(fix), seed=seed).numpy())
        if sauc is not None:
            neg = negatives[k][None] & ~fix
            vals = M.auc_shuffled(pred, fix, neg, method=sauc, seed=seed)
            out["sauc"][k] = np.nanmean(vals) if np.isfinite(vals).any() else np.nan
    return out


# =========================================================================== scoring
def _score_chunk(pred: np.ndarray, truth: VideoTruth, start: int, stop: int, dense: np.ndarray,
                 sauc: str | None, seed: int, device: torch.device) -> dict[str, np.ndarray]:
    fix = truth.fixations(start, stop)
    scores = {k: v.cpu().numpy() for k, v in M.batch_metrics(
        torch.from_numpy(pred).to(device), torch.from_numpy(dense).to(device), torch.from_numpy(fix).to(device),
        seed=seed).items()}
    if sauc is None:
        scores["sauc"] = np.full(stop - start, np.nan)
    else:
        scores["sauc"] = np.atleast_1d(M.auc_shuffled(pred, fix, truth.negatives(start, stop), method=sauc, seed=seed))
    return scores


def _to_gt_size(maps: np.ndarray, size: tuple[int, int], postprocess: bool) -> np.ndarray:
    if postprocess:
        return np.asarray(M.postprocess_prediction(maps, size=size), np.float64)
    if maps.shape[-2:] == tuple(size):
        return maps.astype(np.float64)
    return np.clip(_resize_bilinear(maps, size), 0, None)


@dataclass
class _Options:
    postprocess: bool = True
    sauc: str | None = "exact"
    seed: int = 0
    chunk: int = 32
    centre_sigma: float = 0.25
    human_sigma: float | None = None
    device: torch.device = torch.device("cpu")      # where batch_metrics runs


def _score_video(truth: VideoTruth, model_maps: Mapping[str, np.ndarray], fixed_maps: Mapping[str, np.ndarray],
                 gaze: dict | None, human_sigma: float | None, opts: _Options) -> pd.DataFrame:
    """Per-frame scores of every method for one video: model maps (T,S,S) and fixed (H,W) maps."""
    rows: dict[str, dict[str, list]] = {}
    n = truth.n_frames
    for start in range(0, n, opts.chunk):
        stop = min(n, start + opts.chunk)
        dense = truth.dense(start, stop)
        for name, maps in model_maps.items():
            pred = _to_gt_size(maps[start:stop], truth.size, opts.postprocess)
            _append(rows, name, _score_chunk(pred, truth, start, stop, dense, opts.sauc, opts.seed, opts.device))
        for name, fmap in fixed_maps.items():
            pred = np.broadcast_to(fmap.astype(np.float64), (stop - start, *truth.size)).copy()
            _append(rows, name, _score_chunk(pred, truth, start, stop, dense, opts.sauc, opts.seed, opts.device))
        if gaze is not None and human_sigma is not None:
            _append(rows, HUMAN, human_loo_scores(gaze["x"], gaze["y"], truth, start, stop, human_sigma,
                                                  sauc=opts.sauc, seed=opts.seed))
    frames = []
    for name, cols in rows.items():
        df = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
        df.insert(0, "frame", np.arange(1, n + 1))
        df.insert(0, "method", name)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out.insert(1, "video", truth.video)
    return out


def _append(rows: dict, name: str, scores: Mapping[str, np.ndarray]) -> None:
    bucket = rows.setdefault(name, {k: [] for k in M.METRICS})
    for k in M.METRICS:
        bucket[k].append(np.asarray(scores[k], np.float64))


def _load_gaze(root: Path, db: str, video: str, size: tuple[int, int]) -> dict | None:
    from stavis_lib.data.maps import gaze_path, read_gaze_npz

    path = gaze_path(root, db, video)
    if not path.is_file():
        return None
    g = read_gaze_npz(path)
    x, y = g["x"].astype(np.float64), g["y"].astype(np.float64)
    scale = 1.0
    if "size" in g:                       # stored as (W, H) of the gaze coordinates
        gw, gh = (int(v) for v in np.asarray(g["size"]).ravel()[:2])
        if (gh, gw) != tuple(size):
            x, y = x * size[1] / gw, y * size[0] / gh
            scale = size[1] / gw
    out = {"x": x, "y": y}
    if "sigma" in g:                      # the dense-map Gaussian the importer used (diem.py), in gaze pixels
        out["sigma"] = float(np.asarray(g["sigma"]).ravel()[0]) * scale
    return out


# =========================================================================== the evaluation loop
@dataclass
class EvaluationResult:
    """Tables of one evaluation (pandas DataFrames) and the files written.

    ``frames``: one row per method, dataset, split, video and frame (1-based) with the
    :data:`metrics.METRICS` columns; ``videos``: means over frames; ``splits``: means over the
    videos of a dataset and split; ``datasets``: per dataset, the video means averaged by the
    ``averaging`` rule (column ``averaging``: "pooled" or "split_means", see
    :func:`averaging_rule`), plus ``ALL`` (mean over datasets). Every aggregate skips NaN entries
    and counts them (``n_frames``/``n_nan_frames``, ``n_videos``).
    """

    frames: pd.DataFrame
    videos: pd.DataFrame
    splits: pd.DataFrame
    datasets: pd.DataFrame
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    averaging: str = "official"


def _as_splits(split: int | Sequence[int | None] | None) -> list[int | None]:
    if split is None or isinstance(split, int):
        return [split]
    return list(split)


def _effective_splits(layout, db: str, split) -> list[int | None]:
    """Requested splits, with those that fall back to the dataset's single standard list
    (DIEM, ``<db>_list_test_fps.txt``) mapped to None and scored once."""
    out: list[int | None] = []
    for k in _as_splits(split):
        if k is not None and layout.resolve_fold_list(db, "test", k) == layout.fold_list_path(db, "test", None):
            k = None
        if k not in out:
            out.append(k)
    return out


def _resolve_model(model: Any, split: int | None) -> torch.nn.Module | None:
    """``model``: None, a network, a {split: network} mapping, or a callable split -> network."""
    if model is None or isinstance(model, torch.nn.Module):
        return model
    if isinstance(model, Mapping):
        if split not in model:
            raise KeyError(f"no model given for split {split}; have {sorted(model)}")
        return model[split]
    if callable(model):
        return model(split)
    raise TypeError(f"model must be a network, a {{split: network}} mapping or a callable, got {type(model)}")


@dataclass
class _RunSpec:
    """What one evaluation run scores and how (shared by every video)."""

    name: str
    audio_modes: Sequence[str]
    baselines: bool
    human: bool
    opts: _Options
    max_videos: int | None
    max_frames: int | None
    predict_kw: dict
    mean_gt_stride: int = 5
    pred_dir: Path | None = None
    save_jpg: bool = False
    save_npz: bool = False
    progress: bool = True


def _train_mean_map(layout, db: str, k: int | None, spec: _RunSpec) -> np.ndarray | None:
    """The mean GT map of split ``k``'s training list (None, with a warning, when there is none)."""
    if not layout.resolve_fold_list(db, "train", k).is_file():
        warnings.warn(f"{layout.fold_list_path(db, 'train', k)}: no training list; no mean-GT line for {db} "
                      f"split {k}", stacklevel=3)
        return None
    train = layout.read_fold_list(db, "train", k, check=False)
    return mean_gt_map(layout, db, train, stride=spec.mean_gt_stride, max_frames=spec.max_frames)


def _evaluate_video(root: Path, layout, db: str, entry, net: torch.nn.Module | None, mean_map: np.ndarray | None,
                    other: Mapping[str, str], spec: _RunSpec) -> pd.DataFrame:
    """Per-frame scores of every method (model conditions, reference lines, humans) for one video."""
    truth = load_truth(layout, db, entry, spec.max_frames)
    model_maps: dict[str, np.ndarray] = {}
    if net is not None:
        model_maps = _predict_conditions(layout, db, entry, truth, net, spec.name, spec.audio_modes, other,
                                         **spec.predict_kw)
        if spec.pred_dir is not None and (spec.save_jpg or spec.save_npz):
            save_predictions(next(iter(model_maps.values())), spec.pred_dir, db, entry.name, truth.fps,
                             jpg=spec.save_jpg, npz=spec.save_npz)
    fixed: dict[str, np.ndarray] = {}
    if spec.baselines:
        fixed[CENTRE] = centre_bias_map(truth.size, spec.opts.centre_sigma)
        if mean_map is not None:
            fixed[MEAN_GT] = mean_map if mean_map.shape == truth.size else \
                _resize_bilinear(mean_map[None], truth.size)[0]
    gaze = _load_gaze(root, db, entry.name, truth.size) if spec.human else None
    sigma = _gaze_sigma(root, db, truth.size[1], spec.opts.human_sigma, gaze) if gaze is not None else None
    return _score_video(truth, model_maps, fixed, gaze, sigma, spec.opts)


def _run(root: str | Path, datasets: str | Sequence[str], split, model, spec: _RunSpec) -> pd.DataFrame:
    """Evaluate every test video of every dataset and split; returns the per-frame table."""
    from tqdm.auto import tqdm

    from stavis_lib.data.layout import ReleaseLayout

    for mode in spec.audio_modes:
        if mode not in AUDIO_MODES:
            raise ValueError(f"unknown audio mode {mode!r}; expected one of {list(AUDIO_MODES)}")
    root = Path(root)
    layout = ReleaseLayout(root)
    parts = []
    for db in ([datasets] if isinstance(datasets, str) else list(datasets)):
        for k in _effective_splits(layout, db, split):
            net = _resolve_model(model, k)
            entries = layout.read_fold_list(db, "test", k)[: spec.max_videos or None]
            if not entries:
                raise ValueError(f"{layout.fold_list_path(db, 'test', k)}: the test list of {db} split {k} is empty")
            mean_map = _train_mean_map(layout, db, k, spec) if spec.baselines else None
            uses_other = net is not None and net.config.uses_audio and "other" in spec.audio_modes
            other = other_audio_assignment([e.name for e in entries]) if uses_other else {}
            for entry in tqdm(entries, desc=f"evaluate {db} split {k}", unit="video", disable=not spec.progress):
                df = _evaluate_video(root, layout, db, entry, net, mean_map, other, spec)
                df.insert(1, "dataset", db)
                df.insert(2, "split", 0 if k is None else int(k))
                parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _predict_conditions(layout, db: str, entry, truth: VideoTruth, net: torch.nn.Module, name: str,
                        audio_modes: Sequence[str], other: Mapping[str, str], **kw) -> dict[str, np.ndarray]:
    size = int(net.config.sample_size)
    frames = read_frames_resized(layout, db, entry.name, truth.n_frames, size)
    if not net.config.uses_audio:
        return {name: predict_maps(net, frames, None, 22050, truth.fps, **kw)}
    wave, rate = _read_audio(layout, db, entry.name)
    out = {}
    for mode in audio_modes:
        if mode == "true":
            w = wave
        elif mode == "silence":
            w = None
        else:
            ow, orate = _read_audio(layout, db, other[entry.name])
            ow = np.zeros(1, np.float32) if ow is None else resample(ow, orate, rate)
            n = len(wave) if wave is not None else int(round(truth.n_frames / truth.fps * rate))
            w = _fit_length(ow, n)
        out[name + AUDIO_MODES[mode]] = predict_maps(net, frames, w, rate, truth.fps, **kw)
    return out


# =========================================================================== tables
def _metric_cols(df: pd.DataFrame) -> list[str]:
    return [m for m in M.METRICS if m in df.columns]


def averaging_rule(dataset: str, averaging: str = "official") -> str:
    """The rule that averages the per-video scores of ``dataset``: "pooled" or "split_means".

    ``averaging="official"`` follows the official MATLAB scripts: DIEM (:data:`SPLIT_MEAN_DATASETS`)
    takes the mean of its split means, every other dataset pools its test videos over the splits.
    "pooled" and "split_means" apply that rule to every dataset.
    """
    if averaging not in AVERAGING:
        raise UserError(f"averaging={averaging!r}: expected one of {', '.join(AVERAGING)}")
    if averaging != "official":
        return averaging
    return "split_means" if dataset in SPLIT_MEAN_DATASETS else "pooled"


def _dataset_means(videos: pd.DataFrame, splits: pd.DataFrame, mcols: list[str], averaging: str) -> pd.DataFrame:
    """One row per method and dataset: the per-video means averaged by :func:`averaging_rule`."""
    rows = []
    for (method, db), vd in videos.groupby(["method", "dataset"], sort=False):
        rule = averaging_rule(str(db), averaging)
        if rule == "pooled":      # every (split, video) row once: a video tested in k splits counts k times
            means = vd[mcols].mean()
        else:
            sd = splits[(splits["method"] == method) & (splits["dataset"] == db)]
            means = sd[mcols].mean()
        rows.append({"method": method, "dataset": db, "averaging": rule, "n_splits": vd["split"].nunique(),
                     "n_videos": len(vd), **means.to_dict()})
    return pd.DataFrame(rows, columns=["method", "dataset", "averaging", "n_splits", "n_videos", *mcols])


def summarize(frames: pd.DataFrame, averaging: str = "official") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-frame table -> (videos, splits, datasets).

    Videos: mean over frames (NaN frames skipped; ``n_frames`` and ``n_nan_frames``, the frames
    without fixations or with a non-finite map, counted). Splits: mean over the videos of a split.
    Datasets (:func:`averaging_rule`): "pooled" = mean over every (split, video) row of the
    dataset, so a video in the test lists of k splits counts k times; "split_means" = mean of the
    split means; "official" = split means for DIEM, pooled for the others. ``ALL`` per method
    averages the datasets. Every mean skips NaN entries.
    """
    averaging_rule("", averaging)            # reject an unknown rule before any work
    mcols = _metric_cols(frames)
    g = frames.groupby(KEYS, sort=False)
    videos = g[mcols].mean()                                    # pandas skips NaN
    videos.insert(0, "n_frames", g.size())
    videos.insert(1, "n_nan_frames", g["nss"].apply(lambda s: int(s.isna().sum())))
    videos = videos.reset_index()
    gs = videos.groupby(["method", "dataset", "split"], sort=False)
    splits = gs[mcols].mean()
    splits.insert(0, "n_videos", gs.size())
    splits = splits.reset_index()
    datasets = _dataset_means(videos, splits, mcols, averaging)
    gm = datasets.groupby("method", sort=False)
    overall = gm[mcols].mean()
    overall.insert(0, "n_videos", gm["n_videos"].sum())
    overall.insert(0, "n_splits", gm["n_splits"].sum())
    overall.insert(0, "averaging", "mean of datasets")
    overall = overall.reset_index()
    overall.insert(1, "dataset", "ALL")
    return videos, splits, pd.concat([datasets, overall], ignore_index=True)


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table (floats with ``digits`` decimals, NaN as "–")."""
    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def write_tables(result: EvaluationResult, out_dir: str | Path, title: str = "Evaluation") -> list[Path]:
    """Write frames/videos/splits/datasets CSV files and ``tables.md``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in ("frames", "videos", "splits", "datasets"):
        p = out / f"{key}.csv"
        getattr(result, key).to_csv(p, index=False)
        paths.append(p)
    md = [f"# {title}\n", "Metrics: MIT saliency benchmark conventions (stavis_lib.metrics); means per video, "
          f"then per dataset by the {result.averaging!r} rule (column 'averaging': 'pooled' = mean over the test "
          "videos of all splits, 'split_means' = mean of the split means); NaN frames (no fixation, non-finite "
          "map) skipped and counted.\n",
          "## Per dataset (ALL = mean over datasets)\n", markdown_table(result.datasets),
          "\n## Per dataset and split\n", markdown_table(result.splits),
          "\n## Per video\n", markdown_table(result.videos)]
    p = out / "tables.md"
    p.write_text("\n".join(md))
    paths.append(p)
    return paths


#: Reference lines are drawn thin and neutral; model lines take the colour cycle.
_LINE_STYLE = {
    CENTRE: {"color": "0.55", "linestyle": "--", "linewidth": 1.0},
    MEAN_GT: {"color": "0.35", "linestyle": "-.", "linewidth": 1.0},
    HUMAN: {"color": "black", "linestyle": ":", "linewidth": 1.4},
}


def plot_nss_over_time(frames: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """NSS over time per video (one line per method) -> ``<out>/plots/<db>/<video>_split<k>.png``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    paths = []
    for (db, k, video), df in frames.groupby(["dataset", "split", "video"], sort=False):
        fig = Figure(figsize=(8, 3))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for method, d in df.groupby("method", sort=False):
            ax.plot(d["frame"], d["nss"], label=method, **_LINE_STYLE.get(method, {"linewidth": 1.4}))
        ax.set_xlabel("frame")
        ax.set_ylabel("NSS")
        ax.set_title(f"{db} / {video} (split {k})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.tight_layout()
        p = Path(out_dir) / "plots" / str(db) / f"{video}_split{k}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=90)
        paths.append(p)
    return paths


def save_predictions(maps: np.ndarray, pred_dir: str | Path, db: str, video: str, fps: float, *,
                     jpg: bool = True, npz: bool = True) -> list[Path]:
    """Save (T,H,W) maps in [0,1] as the official files and/or a compact uint8 array.

    ``<pred_dir>/<db>/<video>/pred_sal_%06d.jpg``: frame f (1-based) -> pred_sal_{f:06d}.jpg,
    each map min-max normalised to uint8 grayscale (the official +8 offset is not used: see
    the module docstring). ``<pred_dir>/<db>/<video>.npz``: ``maps`` (T,H,W) uint8, ``fps``,
    ``frames`` (1-based numbers).
    """
    lo = maps.reshape(len(maps), -1).min(1)[:, None, None]
    hi = maps.reshape(len(maps), -1).max(1)[:, None, None]
    u8 = np.round(255 * (maps - lo) / np.maximum(hi - lo, 1e-12)).astype(np.uint8)
    base = Path(pred_dir) / db
    paths = []
    if jpg:
        folder = base / video
        folder.mkdir(parents=True, exist_ok=True)
        for f, m in enumerate(u8, start=1):
            p = folder / f"pred_sal_{f:06d}.jpg"
            Image.fromarray(m).save(p, quality=95)
            paths.append(p)
    if npz:
        base.mkdir(parents=True, exist_ok=True)
        p = base / f"{video}.npz"
        np.savez_compressed(p, maps=u8, fps=np.float64(fps), frames=np.arange(1, len(u8) + 1))
        paths.append(p)
    return paths


# =========================================================================== public entry points
def evaluate_split(root: str | Path, datasets: str | Sequence[str] = "Synthetic",
                   split: int | Sequence[int | None] | None = 1, model: Any = None, *,
                   name: str = "model", audio: str = "true", baselines: bool = True, human: bool = True,
                   postprocess: bool = True, sauc: str | None = "exact", out_dir: str | Path | None = None,
                   plots: bool = True, save_jpg: bool = False, save_npz: bool = False,
                   pred_dir: str | Path | None = None, max_videos: int | None = None,
                   max_frames: int | None = None, batch_size: int = 8, device: str | None = None,
                   dtype: str = "float32", seed: int = 0, centre_sigma: float = 0.25,
                   human_sigma: float | None = None, mean_gt_stride: int = 5, progress: bool = True,
                   averaging: str = "official") -> EvaluationResult:
    """Score a model (and the reference lines) on the test videos of one or more splits.

    Args:
        root: release layout root (``video_frames/``, ``video_audio/``, ``annotations/``,
            ``fold_lists/``, optional ``gaze/``).
        datasets: one dataset name or several ("Synthetic", "DIEM", "AVAD", ...).
        split: 1, 2, 3, a list of them, or None for a dataset's single standard split
            (written as split 0 in the tables).
        model: a ``Stavis`` network, ``{split: network}``, a callable ``split -> network``, or
            None (reference lines only).
        name: the model's row name in the ``method`` column.
        audio: "true", "silence" or "other" (see :func:`audio_dependence`).
        baselines / human: score the centre-bias and mean-GT lines / the human LOO line.
        postprocess: official post-processing (blur sigma 2, resize) before scoring.
        sauc: "exact" (deterministic, all negatives), "mit" (100 random splits) or None (skip).
        out_dir: write CSV + markdown tables and NSS plots there (``plots``).
        save_jpg / save_npz / pred_dir: save the model's maps (default ``<out_dir>/predictions``).
        max_videos / max_frames: evaluate only the first videos / frames (quick looks; the
            model then sees only those frames, so the last windows differ from a full run).
        batch_size, device, dtype: passed to ``predict_video`` ("float32" by default: exact maps);
            the batched metrics run on ``device`` too (default: CUDA when available).
        seed: AUC-J jitter and MIT sAUC draws. centre_sigma: centre Gaussian std (fraction).
        human_sigma: human-baseline Gaussian (px; default: the dataset's). mean_gt_stride:
            every n-th training frame enters the mean GT map.
        averaging: how the ``datasets`` table averages the splits (:func:`averaging_rule`):
            "official" (DIEM: mean of split means; other datasets: pooled over the test videos
            of all splits), "pooled" or "split_means".

    Returns:
        :class:`EvaluationResult` with the frames, videos, splits and datasets DataFrames.
    """
    averaging_rule("", averaging)
    opts = _Options(postprocess=postprocess, sauc=sauc, seed=seed, centre_sigma=centre_sigma,
                    human_sigma=human_sigma, device=resolve_device(device))
    out = Path(out_dir) if out_dir is not None else None
    if (save_jpg or save_npz) and pred_dir is None:
        if out is None:
            raise ValueError("save_jpg/save_npz need pred_dir or out_dir")
        pred_dir = out / "predictions"
    spec = _RunSpec(name, [audio], baselines, human, opts, max_videos, max_frames,
                    dict(batch_size=batch_size, device=device, dtype=dtype), mean_gt_stride,
                    Path(pred_dir) if pred_dir else None, save_jpg, save_npz, progress)
    frames = _run(root, datasets, split, model, spec)
    videos, splits, dsets = summarize(frames, averaging)
    result = EvaluationResult(frames, videos, splits, dsets, out, averaging=averaging)
    if out is not None:
        result.files += write_tables(result, out)
        if plots:
            result.files += plot_nss_over_time(frames, out)
    return result


def audio_dependence(root: str | Path, datasets: str | Sequence[str] = "Synthetic",
                     split: int | Sequence[int | None] | None = 1, model: Any = None, *,
                     name: str = "model", out_dir: str | Path | None = None, postprocess: bool = True,
                     sauc: str | None = "exact", max_videos: int | None = None, max_frames: int | None = None,
                     batch_size: int = 8, device: str | None = None, dtype: str = "float32", seed: int = 0,
                     progress: bool = True, averaging: str = "official") -> pd.DataFrame:
    """Does the model use the sound? Scores with (a) the true soundtrack, (b) silence, (c) the
    soundtrack of another video of the split (:func:`other_audio_assignment`).

    Returns a DataFrame with one row per dataset (and ``ALL``) and condition — "true",
    "silence", "other", "silence - true", "other - true" — and the metric columns (per-video
    means averaged over the splits by ``averaging``, :func:`averaging_rule`). A model that ignores the sound has deltas of ~0. Writes
    ``audio_dependence.csv`` / ``.md`` (and the per-frame scores) to ``out_dir`` when given.
    """
    if model is None:
        raise ValueError("audio_dependence needs an audio-visual model")
    averaging_rule("", averaging)
    opts = _Options(postprocess=postprocess, sauc=sauc, seed=seed, device=resolve_device(device))
    spec = _RunSpec(name, list(AUDIO_MODES), False, False, opts, max_videos, max_frames,
                    dict(batch_size=batch_size, device=device, dtype=dtype), progress=progress)
    frames = _run(root, datasets, split, model, spec)
    if frames["method"].nunique() < len(AUDIO_MODES):
        raise ValueError(f"model {name!r} does not use audio (config.uses_audio is False): nothing to compare")
    _, _, dsets = summarize(frames, averaging)
    mcols = _metric_cols(dsets)
    table = []
    for db, d in dsets.groupby("dataset", sort=False):
        by = {mode: d.loc[d["method"] == name + suffix, mcols].iloc[0] for mode, suffix in AUDIO_MODES.items()}
        for label, values in (("true", by["true"]), ("silence", by["silence"]), ("other", by["other"]),
                              ("silence - true", by["silence"] - by["true"]),
                              ("other - true", by["other"] - by["true"])):
            table.append({"dataset": db, "condition": label, **values.to_dict()})
    result = pd.DataFrame(table)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result.to_csv(out / "audio_dependence.csv", index=False)
        frames.to_csv(out / "audio_dependence_frames.csv", index=False)
        (out / "audio_dependence.md").write_text(
            f"# Audio dependence of {name}\n\nTrue soundtrack vs silence vs another video's soundtrack "
            "(cyclic derangement in name order). Negative deltas of CC/NSS/AUC/SIM (positive for KLD) "
            "mean the model uses the sound.\n\n" + markdown_table(result))
    return result


# =========================================================================== command line
def _load_model(path_template: str | None, splits: Sequence[int | None]):
    """``split -> network`` from a checkpoint path (``{split}`` replaced), every file checked now."""
    if path_template is None:
        return None
    from stavis_lib.model.checkpoints import load_checkpoint

    paths: dict[int | None, Path] = {}
    for k in splits:
        try:
            paths[k] = Path(path_template.format(split=k if k is not None else ""))
        except (KeyError, IndexError, ValueError) as exc:
            raise UserError(f"--checkpoint {path_template!r}: only '{{split}}' may appear in braces ({exc})") from None
        if not paths[k].is_file():
            raise UserError(f"--checkpoint {paths[k]}: checkpoint file not found")
    cache: dict[Path, torch.nn.Module] = {}

    def get(split: int | None) -> torch.nn.Module:
        path = paths[split]
        if path not in cache:
            try:
                cache[path] = load_checkpoint(path, map_location="cpu")[0].eval()
            except ValueError as exc:        # unreadable file, not a stavis checkpoint, weights that do not fit
                raise UserError(f"--checkpoint: {exc}") from exc
        return cache[path]

    return get


def _parse_split(text: str) -> int | None:
    """1, 2, 3 -> the split; none/std/standard/0 -> None (the dataset's single standard split)."""
    if text.lower() in ("none", "std", "standard", "0"):
        return None
    if text.isdigit() and int(text) in (1, 2, 3):
        return int(text)
    raise UserError(f"--splits: a split is 1, 2, 3 or 'std', got {text!r}")


def check_inputs(root: str | Path, datasets: Sequence[str], splits: Sequence[int | None]) -> None:
    """Raise :class:`UserError` naming the option for a missing root, or a dataset or split
    without a test fold list (checked before any work starts)."""
    from stavis_lib.data.layout import ReleaseLayout

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"ROOT {root}: folder not found (expected a release layout with fold_lists/)")
    layout = ReleaseLayout(root)
    lists = sorted((root / "fold_lists").glob("*_list_test*_fps.txt"))
    known = sorted({f.name.split("_list_test")[0] for f in lists})
    for db in datasets:
        if db not in known:
            raise UserError(f"--datasets {db}: no test fold list {root / 'fold_lists'}/{db}_list_test_*_fps.txt "
                            f"(datasets with one: {', '.join(known) or 'none'})")
        for k in splits:
            if not layout.resolve_fold_list(db, "test", k).is_file():
                raise UserError(f"--splits {k if k is not None else 'std'}: {layout.fold_list_path(db, 'test', k)} "
                                f"not found (no such split of {db})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stavis_lib evaluate",
        description="Score a STAViS checkpoint (and centre-bias, mean-GT and human reference lines) on the test "
                    "videos of dataset splits in the release layout; write CSV/markdown tables and NSS plots.")
    p.add_argument("root", help="release layout root (video_frames/, video_audio/, annotations/, fold_lists/)")
    p.add_argument("--datasets", nargs="+", default=["Synthetic"], help="dataset names (default: Synthetic)")
    p.add_argument("--splits", nargs="+", default=["1", "2", "3"],
                   help="splits to score: 1 2 3, or 'std' for a single standard split (default: 1 2 3)")
    p.add_argument("--averaging", choices=list(AVERAGING), default="official",
                   help="how a dataset's video means are averaged over the splits: official (DIEM: mean of split "
                        "means; other datasets: pooled over the test videos of all splits), pooled or split_means")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint path; '{split}' in it is replaced by the split number (one model per split). "
                        "Without it only the reference lines are scored.")
    p.add_argument("--name", default=None, help="the model's row name (default: the checkpoint's variant)")
    p.add_argument("--out", default="results/evaluate", help="output folder (default: results/evaluate)")
    p.add_argument("--audio-test", action="store_true",
                   help="also run the audio-dependence test (true sound vs silence vs another video's sound)")
    p.add_argument("--audio", choices=list(AUDIO_MODES), default="true", help="soundtrack fed to the model")
    p.add_argument("--save-jpg", action="store_true", help="save maps as <pred-dir>/<db>/<video>/pred_sal_%%06d.jpg")
    p.add_argument("--save-npz", action="store_true", help="save maps as <pred-dir>/<db>/<video>.npz (uint8)")
    p.add_argument("--pred-dir", default=None, help="where to save predictions (default: <out>/predictions)")
    p.add_argument("--no-baselines", action="store_true", help="skip the centre-bias and mean-GT lines")
    p.add_argument("--no-human", action="store_true", help="skip the human leave-one-viewer-out line")
    p.add_argument("--no-postprocess", action="store_true", help="score raw maps (no sigma-2 blur)")
    p.add_argument("--no-plots", action="store_true", help="skip the NSS-over-time plots")
    p.add_argument("--sauc", choices=["exact", "mit", "none"], default="exact",
                   help="shuffled AUC: exact (all negatives), mit (100 random splits) or none")
    p.add_argument("--max-videos", type=int, default=None, help="only the first N test videos per split")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames per video")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--dtype", default="float32", help="float32 (default), bfloat16, float16 or auto")
    p.add_argument("--seed", type=int, default=0, help="AUC-J jitter / MIT sAUC seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m stavis_lib evaluate ROOT [--checkpoint CKPT] ...``; returns an exit status.

    Configuration errors (root, datasets, splits, checkpoint, counts) raise :class:`UserError`
    naming the option, before any work; the dispatcher prints them on one line (exit status 2).
    """
    args = build_parser().parse_args(argv)
    splits = list(dict.fromkeys(_parse_split(t) for t in args.splits))
    for opt in ("max_videos", "max_frames", "batch_size"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            raise UserError(f"--{opt.replace('_', '-')} must be at least 1, got {getattr(args, opt)}")
    check_inputs(args.root, args.datasets, splits)
    model = _load_model(args.checkpoint, splits)
    if args.audio_test and (model is None or not model(splits[0]).config.uses_audio):
        raise UserError("--audio-test needs --checkpoint with an audio-visual model")
    name = args.name
    if name is None:
        name = model(splits[0]).config.variant if model is not None else "model"
    kw = dict(max_videos=args.max_videos, max_frames=args.max_frames, batch_size=args.batch_size,
              device=args.device, dtype=args.dtype, seed=args.seed, progress=not args.quiet,
              sauc=None if args.sauc == "none" else args.sauc, postprocess=not args.no_postprocess,
              averaging=args.averaging)
    result = evaluate_split(args.root, args.datasets, splits, model, name=name, audio=args.audio,
                            baselines=not args.no_baselines, human=not args.no_human, out_dir=args.out,
                            plots=not args.no_plots, save_jpg=args.save_jpg, save_npz=args.save_npz,
                            pred_dir=args.pred_dir, **kw)
    print(markdown_table(result.datasets))
    print(f"tables and plots written to {args.out}")
    if args.audio_test:
        table = audio_dependence(args.root, args.datasets, splits, model, name=name, out_dir=args.out, **kw)
        print(markdown_table(table))
    return 0
