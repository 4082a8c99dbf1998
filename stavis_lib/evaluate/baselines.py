"""Reference lines scored next to a model: centre bias, mean training map, human leave-one-out.

* ``centre bias``: a centred Gaussian with std ``centre_sigma`` x (H, W);
* ``mean GT (train)``: the mean dense map of the split's *training* videos;
* ``human (LOO)``: where per-viewer gaze exists (``gaze/<db>/<video>.npz``), each viewer's
  fixation is predicted by the dense map of the other viewers (the GT's Gaussian: the gaze
  file's ``sigma``, the synthetic config's, or ``human_sigma``); NSS, AUC-J and sAUC are
  averaged over viewers. CC, SIM and KLD are left NaN for this line: they compare against the
  dense GT, which contains the held-out viewer.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from stavis_lib import metrics as M
from stavis_lib.evaluate.truth import VideoTruth, count_files, resize_bilinear

__all__ = ["CENTRE", "MEAN_GT", "HUMAN", "centre_bias_map", "mean_gt_map", "gaze_sigma", "human_loo_scores"]

#: Row names of the reference lines in the ``method`` column.
CENTRE = "centre bias"
MEAN_GT = "mean GT (train)"
HUMAN = "human (LOO)"


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
        n = min(int(entry.n_frames), count_files(folder, "eyeMap_*.jpg"))
        if max_frames is not None:
            n = min(n, int(max_frames))
        for t in range(0, n, max(1, int(stride))):
            d = np.asarray(layout.read_dense(db, entry.name, t + 1), np.float64)
            if total is None:
                grid = grid or d.shape
                total = np.zeros(grid)
            if d.shape != tuple(grid):
                d = resize_bilinear(d[None], grid)[0]
            total += d
            count += 1
    if not count:
        return None
    mean = total / count
    return (mean / mean.max() if mean.max() > 0 else mean).astype(np.float32)


def gaze_sigma(root: Path, db: str, width: int, sigma: float | None, gaze: dict | None = None) -> float:
    """Gaussian of the human baseline (px): given, else the gaze file's ``sigma``, else the synthetic
    config's, else 5 % of the width."""
    if sigma is not None:
        return float(sigma)
    if gaze is not None and "sigma" in gaze:
        return float(gaze["sigma"])
    cfg_path = root / "synthetic_config.json"
    if cfg_path.is_file():
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
            out["auc_shuffled"][k] = np.nanmean(vals) if np.isfinite(vals).any() else np.nan
    return out

