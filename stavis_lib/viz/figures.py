"""Static figures of the notebooks: saliency rows (the paper's Figs. 4-5), the DSAM attention
maps M^m (eq. 2), the sound-source localization maps L^j (eqs. 3-5), NSS over time, training
curves, the audio window and the synthetic viewers' gaze."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stavis_lib.evaluate.reports import draw_nss_curves
from stavis_lib.viz.overlay import as_frame, as_map, draw_fixations, overlay_heatmap, to_numpy

__all__ = ["plot_saliency_rows", "plot_dsam_attention", "plot_localization_maps", "plot_nss_over_time",
           "shade_bursts", "plot_training_curves", "plot_audio_window", "plot_gaze_and_sound"]


def _subplots(nrows: int, ncols: int, cell: tuple[float, float] = (2.4, 2.4), **kw: Any):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows), squeeze=False, **kw
    )
    return fig, axes


def _finish_image_grid(fig: Any, axes: Any, title: str | None = None):
    """Hide the ticks of every panel of an image grid, add the title, lay the figure out."""
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_saliency_rows(
    frames: Any,
    rows: Mapping[str, Any],
    fixations: Any | None = None,
    frame_indices: Sequence[int] | None = None,
    alpha: float = 0.6,
    cmap: str = "jet",
    labels: Sequence[str] | None = None,
):
    """The layout of the paper's Figs. 4-5: one column per frame; first row the frames (with
    fixation dots when given), then one row per named map sequence overlaid on the frames.

    ``frames`` (T,H,W,3); each value of ``rows`` (T,h,w); ``fixations`` (T,h,w) bool;
    ``labels`` the column titles (default "frame i")."""
    fr = to_numpy(frames)
    t = fr.shape[0]
    idx = list(frame_indices) if frame_indices is not None else list(np.linspace(0, t - 1, min(t, 5)).astype(int))
    fig, axes = _subplots(1 + len(rows), len(idx))
    fixa = None if fixations is None else to_numpy(fixations)
    radius = max(2, int(round(fr.shape[1] / 90)))
    for c, i in enumerate(idx):
        img = fr[i] if fixa is None else draw_fixations(fr[i], fixa[i], color=(255, 40, 40), radius=radius)
        axes[0, c].imshow(as_frame(img))
        axes[0, c].set_title(labels[c] if labels is not None else f"frame {i}", fontsize=9)
        for r, (name, maps) in enumerate(rows.items(), start=1):
            axes[r, c].imshow(overlay_heatmap(fr[i], to_numpy(maps)[i], alpha=alpha, cmap=cmap))
            if c == 0:
                axes[r, c].set_ylabel(name, fontsize=9)
    axes[0, 0].set_ylabel("frame + fixations" if fixa is not None else "frame", fontsize=9)
    return _finish_image_grid(fig, axes)


def plot_dsam_attention(
    frame: Any,
    attention: Sequence[Any],
    saliency: Any | None = None,
    alpha: float = 0.7,
    title: str | None = None,
    ratio_max: float | None = None,
):
    """The DSAM attention maps M^m (eq. 2) of the four levels on one clip, on one colour scale.

    M^m is a spatial softmax over an h_m x w_m grid: it sums to 1, so the uniform map is
    1/(h_m w_m) everywhere, and the grids differ from level to level. Every panel therefore
    shows M^m / (1/(h_m w_m)) = M^m h_m w_m, "times the uniform level", on one logarithmic
    colour scale shared by all levels (``RdBu_r``: white = uniform, red above, blue below),
    from 1/r to r with r = ``ratio_max`` (default: the largest value of any level, at least 2);
    the colour bar marks the uniform level. A near-uniform map is drawn near-white, whatever
    its own min and max.

    Top row: the maps at their native grid, titled with their range in units of the uniform
    level. Bottom row: the same colours over the frame with opacity ``alpha`` x |log ratio| / log r,
    so that cells at the uniform level leave the frame unchanged. With ``saliency`` (e.g.
    sigmoid(S^v)) a fifth column shows the frame and that map over it, min-max scaled."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    f = as_frame(frame)
    ratios = [as_map(a) * a.size for a in (as_map(m) for m in attention)]
    r = float(ratio_max) if ratio_max is not None else max(2.0, *(float(np.nanmax(q)) for q in ratios))
    norm, cmap = LogNorm(vmin=1.0 / r, vmax=r, clip=True), colormaps["RdBu_r"]
    ncols = len(ratios) + (saliency is not None)
    fig, axes = _subplots(2, ncols, cell=(2.05, 2.15), layout="constrained")
    extent = (-0.5, f.shape[1] - 0.5, f.shape[0] - 0.5, -0.5)
    for m, q in enumerate(ratios):
        image = axes[0, m].imshow(q, cmap=cmap, norm=norm, interpolation="nearest")
        axes[0, m].set_title(f"$M^{{{m + 1}}}$  {q.shape[0]}x{q.shape[1]}\n"
                             f"\u00d7{np.nanmin(q):.2f} to \u00d7{np.nanmax(q):.2f} uniform", fontsize=9)
        rgba = cmap(norm(np.clip(q, 1.0 / r, r)))
        rgba[..., 3] = alpha * np.clip(np.abs(np.log(np.clip(q, 1e-12, None))) / np.log(r), 0.0, 1.0)
        axes[1, m].imshow(f)
        axes[1, m].imshow(rgba, extent=extent, interpolation="nearest")
        axes[1, m].set_title(f"level {m + 1} over the frame", fontsize=9)
    bar = fig.colorbar(image, ax=list(axes[:, : len(ratios)].ravel()), shrink=0.8, pad=0.02)
    ticks = sorted({1.0 / r, 1.0, r} | ({0.5, 2.0} if r > 3.0 else set()))
    bar.set_ticks(ticks, labels=[f"\u00d7{t:.2g}" for t in ticks])
    bar.ax.minorticks_off()
    bar.ax.axhline(1.0, color="k", lw=1.5)
    bar.set_label("$M^m \\cdot h_m w_m$  (1 = uniform level $1/(h_m w_m)$)", fontsize=8)
    if saliency is not None:
        axes[0, -1].imshow(f)
        axes[0, -1].set_title("input frame", fontsize=9)
        axes[1, -1].imshow(overlay_heatmap(f, saliency, alpha=0.6))
        axes[1, -1].set_title("final map\n(min-max scaled)", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_localization_maps(
    frame: Any,
    localization: Any,
    n_maps: int = 6,
    alpha: float = 0.6,
    title: str | None = None,
    box: Sequence[float] | None = None,
    box_label: str | None = None,
    ncols: int = 4,
):
    """The sound-source localization maps L^j (eqs. 3-5) of one clip at the grid they are given
    in (pass the native conv3 grid, e.g. :func:`~stavis_lib.viz.audiovisual.localization_grid`),
    each cell drawn as a block over the frame.

    Panels: the frame (``box`` outlines the sounding object, named by ``box_label``); the mean
    over the K maps with its colour bar; then the ``n_maps`` maps of largest spatial standard
    deviation (the most contrasted ones), on one shared colour scale with one colour bar.
    ``localization`` is (K,h,w), (1,K,h,w) or (h,w)."""
    import matplotlib.pyplot as plt

    from stavis_lib.viz.audiovisual import draw_box, draw_map_on_frame

    loc = to_numpy(localization).astype(np.float32)
    while loc.ndim > 3 and loc.shape[0] == 1:
        loc = loc[0]
    if loc.ndim == 2:
        loc = loc[None]
    if loc.ndim != 3:
        raise ValueError(f"localization maps must be (K,h,w), got shape {loc.shape}")
    order = np.argsort(-loc.reshape(len(loc), -1).std(axis=1), kind="stable")[: min(n_maps, len(loc))]
    ncols = max(2, min(ncols, 2 + len(order)))
    nrows = -(-(2 + len(order)) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.3 * nrows), squeeze=False, layout="constrained")
    f = as_frame(frame)
    axes[0, 0].imshow(f)
    axes[0, 0].set_title("frame", fontsize=9)
    axes[0, 0].set_xticks([])
    axes[0, 0].set_yticks([])
    draw_box(axes[0, 0], box, box_label)
    im = draw_map_on_frame(axes[0, 1], f, loc.mean(axis=0), alpha, cmap="viridis")
    axes[0, 1].set_title(f"mean of the {len(loc)} maps ({loc.shape[1]}x{loc.shape[2]})", fontsize=9)
    fig.colorbar(im, ax=axes[0, 1], fraction=0.046, pad=0.03)
    draw_box(axes[0, 1], box)
    lo, hi = float(loc[order].min()), float(loc[order].max())
    cells = axes.ravel()[2:]
    for ax, j in zip(cells, order):
        im = draw_map_on_frame(ax, f, loc[j], alpha, cmap="viridis", vmin=lo, vmax=hi)
        ax.set_title(f"L^{j + 1}", fontsize=9)
        draw_box(ax, box)
    for ax in cells[len(order):]:
        ax.axis("off")
    if len(order):
        fig.colorbar(im, ax=list(cells[: len(order)]), fraction=0.025, pad=0.02, label="L^j (shared scale)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def shade_bursts(ax: Any, bursts: Sequence[Sequence[Any]], color: str = "gold", alpha: float = 0.3) -> list[Any]:
    """Shade each sound burst (start s, end s[, label]) on a time axis in seconds; the label,
    when given, is written at the top of its span. Returns the shaded spans."""
    spans = []
    for k, burst in enumerate(bursts):
        start, end = float(burst[0]), float(burst[1])
        spans.append(ax.axvspan(start, end, color=color, alpha=alpha, lw=0, label="sound burst" if k == 0 else None))
        if len(burst) > 2 and burst[2] is not None:
            ax.text((start + end) / 2, 0.97, str(burst[2]), transform=ax.get_xaxis_transform(), ha="center",
                    va="top", fontsize=7)
    return spans


def plot_nss_over_time(
    curves: Mapping[str, Any],
    fps: float | None = None,
    ax: Any | None = None,
    cursor: int | None = None,
    title: str | None = "NSS over time",
    bursts: Sequence[Sequence[Any]] | None = None,
):
    """NSS per frame (eq. 10 as a metric) for several models, as in the paper's Figs. 4-5.

    ``curves`` maps a label to a (T,) array (NaN where a frame has no fixation: drawn as a
    gap). The x axis is seconds when ``fps`` is given, else frames. ``cursor`` draws a vertical
    line at that frame. ``bursts`` (start s, end s[, label of the sounding object]) are shaded,
    as the paper marks when a sound plays; they need ``fps``. Returns the figure."""
    import matplotlib.pyplot as plt

    if bursts is not None and not fps:
        raise ValueError("plot_nss_over_time: bursts are given in seconds, so they need fps")
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5, 2.8 if bursts else 2.6))
    else:
        fig = ax.figure
    if bursts:
        shade_bursts(ax, bursts)
    draw_nss_curves(ax, {k: to_numpy(v) for k, v in curves.items()}, fps, title)
    if cursor is not None:
        x = cursor / fps if fps else cursor
        ax.axvline(x, color="k", lw=1.2, ls="--")
    fig.tight_layout()
    return fig


#: Legend labels of the columns of a training log (``steps.csv`` / ``epochs.csv`` of
#: ``stavis_lib.train``). ``train_cc`` / ``train_nss`` (older logs: ``loss_cc`` / ``loss_nss``) are
#: the CC and NSS scores of the training batch, which eq. (11) subtracts; not loss terms.
LOG_LABELS = {
    "loss": "loss (total)",
    "loss_main": "final-map term D(\u03c3(S))",
    "loss_side": "side losses \u03a3 D(\u03c3(A^m))",
    "train_loss": "training loss (epoch mean)",
    "val_loss": "validation loss",
    "train_cc": "training batch", "loss_cc": "training batch (logged as loss_cc)",
    "train_nss": "training batch", "loss_nss": "training batch (logged as loss_nss)",
    "val_cc": "validation", "val_nss": "validation",
}
#: Columns that are not curves of a panel (``loss_ce`` is part of the final-map term).
_NOT_CURVES = {"epoch", "step", "iteration", "lr", "seconds", "best", "val_score", "side_weight", "loss_ce"}


def _log_frame(log: Any):
    import pandas as pd

    if log is None:
        return None
    if isinstance(log, (str, Path)):
        return pd.read_csv(log)
    return log.copy() if isinstance(log, pd.DataFrame) else pd.DataFrame(list(log))


def _log_panels(df: Any, x: str | None) -> dict[str, list[str]]:
    """Columns of a training log per panel: scores (CC, NSS) first, whatever their prefix."""
    import pandas as pd

    panels: dict[str, list[str]] = {"loss": [], "cc": [], "nss": []}
    for c in df.columns:
        if c == x or c in _NOT_CURVES or not pd.api.types.is_numeric_dtype(df[c]) or df[c].dtype == bool:
            continue
        tokens = str(c).lower().replace("/", "_").replace("-", "_").split("_")
        group = "cc" if "cc" in tokens else "nss" if "nss" in tokens else "loss" if "loss" in tokens else None
        if group:
            panels[group].append(c)
    return {g: cols for g, cols in panels.items() if cols}


def plot_training_curves(log: Any, x: str | None = None, title: str | None = None, smooth: int | None = None,
                         validation: Any | None = None):
    """Training curves from a log (a DataFrame, a CSV path or a list of dicts), one panel per
    quantity: the loss, CC and NSS (scores of the training batch and, from ``validation``, of
    the validation set).

    * ``x``: the column of the x axis (default the first of "step", "epoch", "iteration").
    * ``smooth``: with 30 rows or more, each curve is drawn faintly as logged and boldly as a
      centred running mean of ``smooth`` rows (default: a 25th of the rows); 1 = no smoothing.
    * The loss panel: the total loss; for stage 1 (columns ``loss_side`` and ``side_weight``)
      also its two parts, the final-map term ``loss - side_weight * loss_side`` and the side
      losses, with the deep-supervision weight of eq. (6) on a second axis: as the weight falls,
      the total loss can rise while the final map improves.
    * ``validation``: a per-epoch log (``epochs.csv``) whose ``val_*`` columns are drawn as
      markers at its own ``x`` column (``epochs.csv`` has "step").
    """
    import matplotlib.pyplot as plt

    df = _log_frame(log)
    if x is None:
        x = next((c for c in ("step", "epoch", "iteration") if c in df.columns), None)
    if {"loss", "loss_side", "side_weight"} <= set(df.columns):
        df["loss_main"] = df["loss"] - df["side_weight"] * df["loss_side"]
    panels = _log_panels(df, x)
    val = _log_frame(validation)
    val_panels = ({g: [c for c in cols if str(c).startswith("val_")] for g, cols in _log_panels(val, x).items()}
                  if val is not None else {})
    if val is not None and x not in val.columns:
        raise ValueError(f"the validation log has no column {x!r} (columns: {list(val.columns)})")
    if not panels:
        raise ValueError(f"no loss/cc/nss columns in the training log (columns: {list(df.columns)})")
    xs = df[x] if x is not None else np.arange(len(df))
    k = max(1, len(df) // 25) if smooth is None else max(1, int(smooth))
    k = k if len(df) >= 30 else 1
    names = {"loss": "loss", "cc": "CC", "nss": "NSS"}
    fig, axes = plt.subplots(1, len(panels), figsize=(min(10.0, 3.5 * len(panels)), 3.9), squeeze=False)
    for ax, (group, cols) in zip(axes[0], panels.items()):
        for c in cols:
            _draw_curve(ax, xs, df[c], k, LOG_LABELS.get(str(c), str(c)))
        for c in val_panels.get(group, []):
            ok = val[c].notna()
            ax.plot(val[x][ok], val[c][ok], "o-", ms=4, lw=1.2, color="k" if group != "loss" else "tab:gray",
                    label=LOG_LABELS.get(str(c), str(c)))
        ax.set_title(names[group] + (" (score: higher is better)" if group != "loss" else ""), fontsize=10)
        ax.set_xlabel(x or "row")
        ax.grid(alpha=0.3)
        if group == "loss" and "side_weight" in df.columns:
            twin = ax.twinx()
            twin.step(xs, df["side_weight"], where="post", color="tab:purple", ls="--", lw=1.2)
            twin.set_ylim(0, 1.05)
            twin.set_ylabel("side weight (eq. 6)", color="tab:purple", fontsize=9)
            twin.tick_params(axis="y", colors="tab:purple", labelsize=8)
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    if title or k > 1:
        fig.suptitle((title or "") + (f"  (bold: running mean of {k} {x}s)" if k > 1 else ""), fontsize=10)
    fig.tight_layout()
    return fig


def _draw_curve(ax: Any, xs: Any, y: Any, k: int, label: str) -> None:
    """One logged column: as logged (faint when smoothed) and its centred running mean of ``k``."""
    ok = y.notna()
    if k == 1:
        ax.plot(xs[ok], y[ok], marker="o" if ok.sum() < 30 else None, ms=3, label=label)
        return
    (raw,) = ax.plot(xs[ok], y[ok], lw=0.6, alpha=0.3)
    mean = y[ok].rolling(k, center=True, min_periods=max(1, k // 2)).mean()
    ax.plot(xs[ok], mean, lw=1.8, color=raw.get_color(), label=label)


def plot_audio_window(
    window: Any, rate: int, title: str | None = None, n_fft: int = 512, max_freq: float = 4000.0, dynamic_range: float = 70.0
):
    """The Hann-weighted, centred audio excerpt of one clip (§3.2) and its spectrogram (up to
    ``max_freq`` Hz, ``dynamic_range`` dB below the peak)."""
    import matplotlib.pyplot as plt

    w = to_numpy(window).astype(np.float64).ravel()
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
    t = np.arange(len(w)) / rate
    axes[0].plot(t, w, lw=0.6)
    nz = np.nonzero(w)[0]
    if len(nz):
        env = np.abs(w[nz]).max() * np.hanning(nz[-1] - nz[0] + 1)
        axes[0].plot(t[nz[0] : nz[-1] + 1], env, color="tab:red", lw=1, label="Hann envelope (scaled)")
        axes[0].legend(fontsize=8)
    axes[0].set_xlabel("time (s)")
    axes[0].set_ylabel("amplitude (SoundNet scale)")
    axes[0].set_title("audio window", fontsize=10)
    with np.errstate(divide="ignore"):  # the zero padding has no energy: -inf dB, drawn blank
        spec, _f, _t, im = axes[1].specgram(w, NFFT=n_fft, Fs=rate, noverlap=n_fft // 2, cmap="magma")
    finite = spec[spec > 0]
    if finite.size:
        top = 10 * np.log10(finite.max())
        im.set_clim(top - dynamic_range, top)
    axes[1].set_ylim(0, min(rate / 2, max_freq))
    axes[1].set_xlabel("time (s)")
    axes[1].set_ylabel("frequency (Hz)")
    axes[1].set_title("spectrogram", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gaze_and_sound(frames: Any, gaze: Mapping[str, Any], indices: Sequence[int]):
    """Simulated viewers' gaze (one dot per viewer) on a few frames of a synthetic video, and a
    timeline of which object class sounds (the bursts) with the frames marked."""
    import matplotlib.pyplot as plt

    fr = to_numpy(frames)
    gx, gy = to_numpy(gaze["x"]), to_numpy(gaze["y"])
    fig = plt.figure(figsize=(2.6 * len(indices), 4.6))
    grid = fig.add_gridspec(2, len(indices), height_ratios=[2.2, 1])
    for c, t in enumerate(indices):
        ax = fig.add_subplot(grid[0, c])
        pts = np.stack([gx[:, t], gy[:, t]], axis=1)
        ax.imshow(draw_fixations(fr[t], points=pts, color=(255, 255, 255), radius=2))
        ax.set_title(f"frame {t}: {int(np.isfinite(gx[:, t]).sum())} fixating", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    fps = float(np.asarray(gaze.get("fps", 25.0)))
    sounding = np.asarray(gaze.get("sounding_class", gaze.get("sounding", np.full(fr.shape[0], -1))))
    names = [str(n) for n in np.asarray(gaze.get("class_names", []))]
    t = np.arange(len(sounding)) / fps
    ax.step(t, sounding, where="post", color="tab:red", lw=1.5)
    ax.set_yticks(range(-1, len(names)))
    ax.set_yticklabels(["(silence)"] + names, fontsize=8)
    for i in indices:
        ax.axvline(i / fps, color="k", ls="--", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_title("which object class sounds", fontsize=10)
    fig.tight_layout()
    return fig

