"""The model's maps under each audio condition, and per-frame scores of every method on one video.

Prediction (test path): the step-1 sliding window of :func:`stavis_lib.inference.predict_video`
at the model's resolution, the per-frame min-max of the official saved maps, then the official
post-processing (:func:`stavis_lib.metrics.postprocess_prediction`: Gaussian sigma 2, 13x13,
resize to the GT size) before scoring with :func:`stavis_lib.metrics.score_video`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from stavis_lib import metrics as M
from stavis_lib.data.frames import OFFICIAL_INTERMEDIATE_SIZE, model_frame
from stavis_lib.data.media import resample
from stavis_lib.evaluate.baselines import HUMAN, human_loo_scores
from stavis_lib.evaluate.truth import VideoTruth, resize_bilinear

__all__ = ["AUDIO_MODES", "Options", "read_frames_resized", "predict_maps", "other_audio_assignment",
           "predict_conditions", "score_methods"]


@dataclass
class Options:
    """How every video of a run is scored: post-processing, sAUC method ("exact", "mit" or None),
    seed, frames per chunk, the reference lines' Gaussians and the device of the metrics."""

    postprocess: bool = True
    sauc: str | None = "exact"
    seed: int = 0
    chunk: int = 32
    centre_sigma: float = 0.25
    human_sigma: float | None = None
    device: torch.device = torch.device("cpu")      # where batch_metrics runs


#: Audio conditions of the audio-dependence test and the suffix they add to the method name.
AUDIO_MODES = {"true": "", "silence": " [silence]", "other": " [other audio]"}


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


def predict_conditions(layout, db: str, entry, truth: VideoTruth, net: torch.nn.Module, name: str,
                        audio_modes: Sequence[str], other: Mapping[str, str], **kw) -> dict[str, np.ndarray]:
    """The model's (T,S,S) maps of one video under each audio condition, keyed by the method name
    (``name`` + the condition's suffix in :data:`AUDIO_MODES`); a visual-only model gets one entry.
    ``other`` maps a video to the video whose soundtrack it gets in the "other" condition."""
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


def _score_chunk(pred: np.ndarray, truth: VideoTruth, start: int, stop: int, dense: np.ndarray,
                 opts: Options) -> dict[str, np.ndarray]:
    """Every metric of frames start..stop-1 (``pred`` at the GT size); the sAUC negatives come
    from the whole video (:meth:`VideoTruth.negatives`)."""
    return M.score_video(torch.from_numpy(pred).to(opts.device), dense, truth.fixations(start, stop),
                         sauc=opts.sauc, negatives=truth.negatives(start, stop), seed=opts.seed)


def _to_gt_size(maps: np.ndarray, size: tuple[int, int], postprocess: bool) -> np.ndarray:
    if postprocess:
        return np.asarray(M.postprocess_prediction(maps, size=size), np.float64)
    if maps.shape[-2:] == tuple(size):
        return maps.astype(np.float64)
    return np.clip(resize_bilinear(maps, size), 0, None)


def score_methods(truth: VideoTruth, model_maps: Mapping[str, np.ndarray], fixed_maps: Mapping[str, np.ndarray],
                 gaze: dict | None, human_sigma: float | None, opts: Options) -> pd.DataFrame:
    """Per-frame scores of every method for one video: model maps (T,S,S) and fixed (H,W) maps."""
    rows: dict[str, dict[str, list]] = {}
    n = truth.n_frames
    for start in range(0, n, opts.chunk):
        stop = min(n, start + opts.chunk)
        dense = truth.dense(start, stop)
        for name, maps in model_maps.items():
            pred = _to_gt_size(maps[start:stop], truth.size, opts.postprocess)
            _append(rows, name, _score_chunk(pred, truth, start, stop, dense, opts))
        for name, fmap in fixed_maps.items():
            pred = np.broadcast_to(fmap.astype(np.float64), (stop - start, *truth.size)).copy()
            _append(rows, name, _score_chunk(pred, truth, start, stop, dense, opts))
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
