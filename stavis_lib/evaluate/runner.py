"""The evaluation loop: every test video of every dataset and split, scored with the model (or
maps saved by any model, :class:`~stavis_lib.evaluate.predictions.SavedPredictions`) and the
reference lines; :func:`evaluate_split` is its public entry point."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from stavis_lib.errors import UserError
from stavis_lib.evaluate.baselines import CENTRE, MEAN_GT, centre_bias_map, gaze_sigma, mean_gt_map
from stavis_lib.evaluate.predictions import SavedPredictions, warn_missing
from stavis_lib.evaluate.reports import (EvaluationResult, averaging_rule, save_predictions, summarize,
                                         write_nss_plots, write_tables)
from stavis_lib.evaluate.scoring import (AUDIO_MODES, Options, other_audio_assignment, predict_conditions,
                                         score_methods)
from stavis_lib.evaluate.truth import load_gaze, load_truth, resize_bilinear
from stavis_lib.progress import progress_bar
from stavis_lib.runtime import resolve_device

__all__ = ["evaluate_split", "RunSpec", "run_splits"]


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


def _resolve_model(model: Any, split: int | None) -> torch.nn.Module | SavedPredictions | None:
    """``model``: None, a network, saved maps, a {split: network} mapping, or a callable split -> network."""
    if model is None or isinstance(model, (torch.nn.Module, SavedPredictions)):
        return model
    if isinstance(model, Mapping):
        if split not in model:
            raise KeyError(f"no model given for split {split}; have {sorted(model)}")
        return model[split]
    if callable(model):
        return model(split)
    raise TypeError(f"model must be a network, a {{split: network}} mapping or a callable, got {type(model)}")


@dataclass
class RunSpec:
    """What one evaluation run scores and how (shared by every video)."""

    name: str
    audio_modes: Sequence[str]
    baselines: bool
    human: bool
    opts: Options
    max_videos: int | None
    max_frames: int | None
    predict_kw: dict
    mean_gt_stride: int = 5
    pred_dir: Path | None = None
    save_jpg: bool = False
    save_npz: bool = False
    progress: bool = True


def _train_mean_map(layout, db: str, k: int | None, spec: RunSpec) -> np.ndarray | None:
    """The mean GT map of split ``k``'s training list (None, with a warning, when there is none)."""
    if not layout.resolve_fold_list(db, "train", k).is_file():
        warnings.warn(f"{layout.fold_list_path(db, 'train', k)}: no training list; no mean-GT line for {db} "
                      f"split {k}", stacklevel=3)
        return None
    train = layout.read_fold_list(db, "train", k, check=False)
    return mean_gt_map(layout, db, train, stride=spec.mean_gt_stride, max_frames=spec.max_frames)


def _evaluate_video(root: Path, layout, db: str, entry, net: torch.nn.Module | SavedPredictions | None,
                    mean_map: np.ndarray | None, other: Mapping[str, str], spec: RunSpec) -> pd.DataFrame:
    """Per-frame scores of every method (model conditions or saved maps, reference lines, humans)
    for one video."""
    truth = load_truth(layout, db, entry, spec.max_frames)
    model_maps: dict[str, np.ndarray] = {}
    saved = None
    if isinstance(net, SavedPredictions):
        saved = net.read(db, entry, truth.n_frames)
        model_maps = {spec.name: saved.maps}
    elif net is not None:
        model_maps = predict_conditions(layout, db, entry, truth, net, spec.name, spec.audio_modes, other,
                                         **spec.predict_kw)
        if spec.pred_dir is not None and (spec.save_jpg or spec.save_npz):
            save_predictions(next(iter(model_maps.values())), spec.pred_dir, db, entry.name, truth.fps,
                             jpg=spec.save_jpg, npz=spec.save_npz)
    fixed: dict[str, np.ndarray] = {}
    if spec.baselines:
        fixed[CENTRE] = centre_bias_map(truth.size, spec.opts.centre_sigma)
        if mean_map is not None:
            fixed[MEAN_GT] = mean_map if mean_map.shape == truth.size else \
                resize_bilinear(mean_map[None], truth.size)[0]
    gaze = load_gaze(root, db, entry.name, truth.size) if spec.human else None
    sigma = gaze_sigma(root, db, truth.size[1], spec.opts.human_sigma, gaze) if gaze is not None else None
    scores = score_methods(truth, model_maps, fixed, gaze, sigma, spec.opts)
    return net.mark(scores, spec.name, saved) if saved is not None else scores


def _plan(layout, datasets: str | Sequence[str], split, model, spec: RunSpec) -> list[tuple[str, int | None, list]]:
    """(dataset, split, test entries) of every part of the run; saved maps are located for every
    video now, so that a missing file stops the run before any work."""
    plan = []
    for db in ([datasets] if isinstance(datasets, str) else list(datasets)):
        for k in _effective_splits(layout, db, split):
            entries = layout.read_fold_list(db, "test", k)[: spec.max_videos or None]
            if not entries:
                raise ValueError(f"{layout.fold_list_path(db, 'test', k)}: the test list of {db} split {k} is empty")
            if isinstance(model, SavedPredictions):
                model.check(db, entries)
            plan.append((db, k, entries))
    return plan


def run_splits(root: str | Path, datasets: str | Sequence[str], split, model, spec: RunSpec) -> pd.DataFrame:
    """Evaluate every test video of every dataset and split; returns the per-frame table."""
    from stavis_lib.data.layout import ReleaseLayout

    for mode in spec.audio_modes:
        if mode not in AUDIO_MODES:
            raise ValueError(f"unknown audio mode {mode!r}; expected one of {list(AUDIO_MODES)}")
    root = Path(root)
    layout = ReleaseLayout(root)
    parts = []
    for db, k, entries in _plan(layout, datasets, split, model, spec):
        net = _resolve_model(model, k)
        mean_map = _train_mean_map(layout, db, k, spec) if spec.baselines else None
        uses_other = isinstance(net, torch.nn.Module) and net.config.uses_audio and "other" in spec.audio_modes
        other = other_audio_assignment([e.name for e in entries]) if uses_other else {}
        for entry in progress_bar(entries, enabled=spec.progress, desc=f"evaluate {db} split {k}", unit="video"):
            df = _evaluate_video(root, layout, db, entry, net, mean_map, other, spec)
            df.insert(1, "dataset", db)
            df.insert(2, "split", 0 if k is None else int(k))
            parts.append(df)
    return pd.concat(parts, ignore_index=True)


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
        model: a ``Stavis`` network, ``{split: network}``, a callable ``split -> network``,
            maps saved by any model (:class:`~stavis_lib.evaluate.predictions.SavedPredictions`,
            the same for every split; :func:`~stavis_lib.evaluate.evaluate_predictions`), or
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
    if isinstance(model, SavedPredictions) and (audio != "true" or save_jpg or save_npz):
        raise UserError("saved predictions are scored as they are: audio conditions and save_jpg/save_npz "
                        "need a network")
    opts = Options(postprocess=postprocess, sauc=sauc, seed=seed, centre_sigma=centre_sigma,
                    human_sigma=human_sigma, device=resolve_device(device))
    out = Path(out_dir) if out_dir is not None else None
    if (save_jpg or save_npz) and pred_dir is None:
        if out is None:
            raise ValueError("save_jpg/save_npz need pred_dir or out_dir")
        pred_dir = out / "predictions"
    spec = RunSpec(name, [audio], baselines, human, opts, max_videos, max_frames,
                    dict(batch_size=batch_size, device=device, dtype=dtype), mean_gt_stride,
                    Path(pred_dir) if pred_dir else None, save_jpg, save_npz, progress)
    frames = run_splits(root, datasets, split, model, spec)
    if isinstance(model, SavedPredictions):
        warn_missing(frames, model.missing)
    videos, splits, dsets = summarize(frames, averaging)
    result = EvaluationResult(frames, videos, splits, dsets, out, averaging=averaging)
    if out is not None:
        result.files += write_tables(result, out)
        if plots:
            result.files += write_nss_plots(frames, out)
    return result
