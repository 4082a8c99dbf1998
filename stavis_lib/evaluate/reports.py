"""Tables and files of an evaluation: averaging over splits and datasets, CSV and markdown
tables, NSS-over-time plots and saved predictions.

The official MATLAB scripts average a dataset's video means in one of two ways
(:func:`averaging_rule`): DIEM takes the mean of its split means, every other dataset pools the
test videos of its three splits (one mean over all of them).

Prediction file numbering: the file for frame f (1-based) is ``pred_sal_{f:06d}.jpg``. The
official test code names its i-th map (0-based, the clip starting at frame i+1)
``pred_sal_{i+9:06d}.jpg`` ("start frame + 8", the clip centre) and has no map for the first 8
frames; here every frame has its own window (``clips.window_indices``), so the number is the
frame the map predicts, and the MATLAB code, which pairs pred_sal_N with frame N, reads it as is.
:mod:`~stavis_lib.evaluate.predictions` reads the same numbering back (``evaluate --predictions``).

:func:`draw_nss_curves` is the one NSS-over-time drawing of the library: the evaluation's plot
files use it here, and :mod:`stavis_lib.viz` (a later layer) draws the notebooks' and the
browser's curves with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from PIL import Image

from stavis_lib import metrics as M
from stavis_lib.errors import UserError
from stavis_lib.evaluate.baselines import CENTRE, HUMAN, MEAN_GT

__all__ = ["EvaluationResult", "AVERAGING", "averaging_rule", "summarize", "write_tables", "draw_nss_curves",
           "write_nss_plots", "save_predictions"]

#: Table key columns.
KEYS = ["method", "dataset", "split", "video"]
#: How the per-video scores of a dataset are averaged over its splits (:func:`averaging_rule`).
AVERAGING = ("official", "pooled", "split_means")
#: Count of scored frames without a saved map (tables of saved predictions only).
MISSING_COUNT = "n_missing_frames"
#: Datasets whose official evaluation script averages split means (all others pool their videos).
SPLIT_MEAN_DATASETS = frozenset({"DIEM"})


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


def metric_cols(df: pd.DataFrame) -> list[str]:
    """The :data:`stavis_lib.metrics.METRICS` columns of a table, in that order."""
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
        counts = {c: int(vd[c].sum()) for c in vd.columns if c == MISSING_COUNT}
        rows.append({"method": method, "dataset": db, "averaging": rule, "n_splits": vd["split"].nunique(),
                     "n_videos": len(vd), **counts, **means.to_dict()})
    counts = [MISSING_COUNT] if MISSING_COUNT in videos.columns else []
    return pd.DataFrame(rows, columns=["method", "dataset", "averaging", "n_splits", "n_videos", *counts, *mcols])


def summarize(frames: pd.DataFrame, averaging: str = "official") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-frame table -> (videos, splits, datasets).

    Videos: mean over frames (NaN frames skipped; ``n_frames`` and ``n_nan_frames``, the frames
    without fixations or with a non-finite map, counted). Saved predictions
    (:mod:`~stavis_lib.evaluate.predictions`) add a ``missing`` column to the frames: their
    scored frames without a saved map are then counted in ``n_missing_frames`` (per video,
    summed in the splits and datasets tables) and not in ``n_nan_frames``. Splits: mean over the videos of a split.
    Datasets (:func:`averaging_rule`): "pooled" = mean over every (split, video) row of the
    dataset, so a video in the test lists of k splits counts k times; "split_means" = mean of the
    split means; "official" = split means for DIEM, pooled for the others. ``ALL`` per method
    averages the datasets. Every mean skips NaN entries.
    """
    averaging_rule("", averaging)            # reject an unknown rule before any work
    mcols = metric_cols(frames)
    g = frames.groupby(KEYS, sort=False)
    videos = g[mcols].mean()                                    # pandas skips NaN
    videos.insert(0, "n_frames", g.size())
    missing = frames["missing"].astype(bool) if "missing" in frames.columns else pd.Series(False, frames.index)
    videos.insert(1, "n_nan_frames", (frames["nss"].isna() & ~missing).groupby(
        [frames[k] for k in KEYS], sort=False).sum().astype(int))
    if "missing" in frames.columns:
        videos.insert(2, MISSING_COUNT, missing.groupby([frames[k] for k in KEYS], sort=False).sum().astype(int))
    videos = videos.reset_index()
    counts = [MISSING_COUNT] if MISSING_COUNT in videos.columns else []
    gs = videos.groupby(["method", "dataset", "split"], sort=False)
    splits = gs[mcols].mean()
    splits.insert(0, "n_videos", gs.size())
    for c in counts:
        splits.insert(1, c, gs[c].sum())
    splits = splits.reset_index()
    datasets = _dataset_means(videos, splits, mcols, averaging)
    gm = datasets.groupby("method", sort=False)
    overall = gm[mcols].mean()
    for c in counts:
        overall.insert(0, c, gm[c].sum())
    overall.insert(0, "n_videos", gm["n_videos"].sum())
    overall.insert(0, "n_splits", gm["n_splits"].sum())
    overall.insert(0, "averaging", "mean of datasets")
    overall = overall.reset_index()
    overall.insert(1, "dataset", "ALL")
    return videos, splits, pd.concat([datasets, overall], ignore_index=True)



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
          "## Per dataset (ALL = mean over datasets)\n", M.markdown_table(result.datasets),
          "\n## Per dataset and split\n", M.markdown_table(result.splits),
          "\n## Per video\n", M.markdown_table(result.videos)]
    p = out / "tables.md"
    p.write_text("\n".join(md))
    paths.append(p)
    return paths



#: Line styles of NSS curves by name: the reference lines thin and neutral, the notebooks' layers
#: in fixed colours; any other curve takes the colour cycle.
NSS_STYLES: dict[str, dict[str, Any]] = {
    CENTRE: {"color": "0.55", "linestyle": "--", "linewidth": 1.0},
    MEAN_GT: {"color": "0.35", "linestyle": "-.", "linewidth": 1.0},
    HUMAN: {"color": "black", "linestyle": ":", "linewidth": 1.4},
    "ground truth": {"color": "k"},
    "human": {"color": "0.4"},
    "visual-only": {"color": "tab:blue"},
    "audio-visual": {"color": "tab:red"},
}


def draw_nss_curves(ax: Any, curves: Mapping[str, Any], fps: float | None = None, title: str | None = None,
                    first_frame: int = 0) -> list[Any]:
    """Draw NSS-over-time curves (NSS per frame, the paper's Figs. 4-5) on a matplotlib axes.

    ``curves`` maps a name to a (T,) array; NaN (a frame without fixations) is drawn as a gap and
    the legend gives each curve's mean over the other frames. The x axis is seconds when ``fps``
    is given, else frame numbers counted from ``first_frame``. Returns the lines drawn.
    """
    lines = []
    for k, (name, values) in enumerate(curves.items()):
        y = np.asarray(values, dtype=np.float64).ravel()
        x = np.arange(len(y)) / fps if fps else first_frame + np.arange(len(y))
        style = {"linewidth": 1.4, "color": f"C{(k + 2) % 10}", **NSS_STYLES.get(name, {})}
        label = f"{name} (mean {np.nanmean(y):.2f})" if np.isfinite(y).any() else name
        (line,) = ax.plot(x, y, label=label, **style)
        lines.append(line)
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel("NSS")
    ax.axhline(0.0, color="0.7", lw=0.8)
    if curves:  # outside the axes, so that it never hides a curve
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return lines


def write_nss_plots(frames: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """NSS over time per video of a per-frame table (one line per method, :func:`draw_nss_curves`)
    -> ``<out>/plots/<db>/<video>_split<k>.png``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    paths = []
    for (db, k, video), df in frames.groupby(["dataset", "split", "video"], sort=False):
        fig = Figure(figsize=(8, 3))
        FigureCanvasAgg(fig)
        curves = {method: d.sort_values("frame")["nss"].to_numpy() for method, d in df.groupby("method", sort=False)}
        draw_nss_curves(fig.add_subplot(1, 1, 1), curves, title=f"{db} / {video} (split {k})",
                        first_frame=int(df["frame"].min()))
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
