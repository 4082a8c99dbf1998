"""Figures and the interactive overlay browser of the STAViS tutorial notebooks.

Everything a notebook draws is made here, so that the tests reach it:

* heat-map overlays of a saliency map on a frame and fixation dots (the paper's Figs. 1, 4, 5);
* the NSS-over-time plot with a cursor at the current frame (Figs. 4-5, NSS as in eq. 10);
* the DSAM attention maps M^m of the four levels (eq. 2) and the sound-source
  localization maps L^j (eqs. 3-5);
* training curves, the Table-1 ablation table in the paper's layout and the paper's own numbers;
* :class:`SaliencyBrowser`, an ipywidgets browser: choose a video, scrub frames, toggle
  ground truth / visual-only / audio-visual / localization overlays, play the overlay video
  with its sound, and follow the NSS curve with a cursor.

Arrays are numpy; torch tensors are accepted wherever a map is expected (they are detached
and moved to the CPU). ``viz`` sits on top of the library: nothing in ``model``, ``data``,
``losses`` or ``metrics`` imports it.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# ----------------------------------------------------------------------------------------
# The paper's own numbers (Table 1, "Overall" over the six real databases).
# ----------------------------------------------------------------------------------------

#: Metric columns of the paper's tables, in the paper's order, and their labels.
PAPER_METRICS: tuple[str, ...] = ("cc", "nss", "auc_judd", "auc_shuffled", "sim")
METRIC_LABELS: dict[str, str] = {
    "cc": "CC ↑",
    "nss": "NSS ↑",
    "auc_judd": "AUC-J ↑",
    "auc_shuffled": "sAUC ↑",
    "sim": "SIM ↑",
}
#: Other spellings of the metric names that result tables may use.
METRIC_ALIASES: dict[str, str] = {
    "auc_j": "auc_judd",
    "aucj": "auc_judd",
    "auc-j": "auc_judd",
    "sauc": "auc_shuffled",
    "s_auc": "auc_shuffled",
    "shuffled_auc": "auc_shuffled",
    "auc_shuffled_mit": "auc_shuffled",
}

#: Row labels of Table 1, keyed by the variant names of ``stavis_lib.config.VARIANTS``.
TABLE1_LABELS: dict[str, str] = {
    "visual": "Visual",
    "L1_audio_only": "L1 AudioOnly",
    "L2_audio_only": "L2 AudioOnly",
    "L3_audio_only": "L3 AudioOnly",
    "L1_S1": "L1 - S1av",
    "L2_S1": "L2 - S1av",
    "L3_S1": "L3 - S1av",
    "L1_S2": "L1 - S2av",
    "L2_S2": "L2 - S2av",
    "L3_S2": "L3 - S2av",
    "L3mul_S2tilde": "L3mul - S~2av",
    "L3mul_S3": "L3mul - S3av (proposed)",
    "L3mul_Sfus": "L3mul - Sfusav",
}

#: Table 1 of Tsiami, Koutras, Maragos (CVPR 2020): ablation over all six real databases
#: (DIEM, Coutrot1, Coutrot2, AVAD, SumMe, ETMD), averaged over the three splits.
#: These are the paper's numbers on real eye-tracking data, copied from the paper; they
#: are printed next to ours for reference only and are not comparable with numbers
#: measured on the synthetic benchmark.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "visual": {"cc": 0.5260, "nss": 2.54, "auc_judd": 0.8922, "auc_shuffled": 0.6187, "sim": 0.4088},
    "L1_audio_only": {"cc": 0.5132, "nss": 2.48, "auc_judd": 0.8923, "auc_shuffled": 0.6220, "sim": 0.4100},
    "L2_audio_only": {"cc": 0.5381, "nss": 2.63, "auc_judd": 0.8969, "auc_shuffled": 0.6171, "sim": 0.4157},
    "L3_audio_only": {"cc": 0.5226, "nss": 2.59, "auc_judd": 0.8935, "auc_shuffled": 0.6228, "sim": 0.4027},
    "L1_S1": {"cc": 0.5243, "nss": 2.62, "auc_judd": 0.8924, "auc_shuffled": 0.6224, "sim": 0.4103},
    "L2_S1": {"cc": 0.5344, "nss": 2.69, "auc_judd": 0.8944, "auc_shuffled": 0.6215, "sim": 0.4249},
    "L3_S1": {"cc": 0.5354, "nss": 2.71, "auc_judd": 0.8959, "auc_shuffled": 0.6236, "sim": 0.4278},
    "L1_S2": {"cc": 0.5069, "nss": 2.43, "auc_judd": 0.8687, "auc_shuffled": 0.6223, "sim": 0.2985},
    "L2_S2": {"cc": 0.5082, "nss": 2.44, "auc_judd": 0.8699, "auc_shuffled": 0.6225, "sim": 0.2996},
    "L3_S2": {"cc": 0.5066, "nss": 2.46, "auc_judd": 0.8622, "auc_shuffled": 0.6219, "sim": 0.2981},
    "L3mul_S2tilde": {"cc": 0.5271, "nss": 2.56, "auc_judd": 0.8943, "auc_shuffled": 0.6242, "sim": 0.4132},
    "L3mul_S3": {"cc": 0.5414, "nss": 2.73, "auc_judd": 0.8983, "auc_shuffled": 0.6267, "sim": 0.4241},
    "L3mul_Sfus": {"cc": 0.5401, "nss": 2.70, "auc_judd": 0.8979, "auc_shuffled": 0.6261, "sim": 0.4290},
}


# ----------------------------------------------------------------------------------------
# Small array helpers
# ----------------------------------------------------------------------------------------


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached, cast to float32 if they are
    low-precision floats, and moved to the CPU."""
    if hasattr(x, "detach"):
        x = x.detach()
        if getattr(x, "is_floating_point", lambda: False)():
            x = x.float()
        x = x.cpu().numpy()
    return np.asarray(x)


def _as_map(saliency: Any) -> np.ndarray:
    """A 2-D float map from (H,W), (1,H,W) or (1,1,H,W) input."""
    m = to_numpy(saliency).astype(np.float32, copy=False)
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"expected a single 2-D saliency map, got shape {m.shape}")
    return m


def _as_frame(frame: Any) -> np.ndarray:
    """An (H,W,3) uint8 RGB frame from uint8 or [0,1]/[0,255] float input (gray is tiled)."""
    f = to_numpy(frame)
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H,W,3) RGB frame, got shape {f.shape}")
    f = f[:, :, :3]
    if f.dtype != np.uint8:
        f = f.astype(np.float32)
        if np.nanmax(f) <= 1.0:
            f = f * 255.0
        f = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return f


def normalize_map(saliency: Any) -> np.ndarray:
    """Min-max normalise a map to [0, 1] (float32). A constant or all-NaN map gives zeros;
    NaN pixels become 0."""
    m = _as_map(saliency).astype(np.float32)
    finite = np.isfinite(m)
    if not finite.any():
        return np.zeros_like(m)
    lo = float(m[finite].min())
    hi = float(m[finite].max())
    out = np.zeros_like(m)
    if hi > lo:
        out[finite] = (m[finite] - lo) / (hi - lo)
    return out


def resize_map(saliency: Any, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to ``size = (H, W)`` (pixel-centre aligned, like
    ``align_corners=False``)."""
    m = _as_map(saliency)
    h, w = int(size[0]), int(size[1])
    if m.shape == (h, w):
        return m.astype(np.float32, copy=True)
    img = Image.fromarray(np.ascontiguousarray(m, dtype=np.float32))  # mode "F"
    return np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float32)


def colorize(saliency: Any, cmap: str = "jet") -> np.ndarray:
    """Map a saliency map through a matplotlib colour map -> uint8 (H,W,3); the map is
    min-max normalised first."""
    from matplotlib import colormaps

    rgba = colormaps[cmap](normalize_map(saliency))
    return np.clip(np.rint(rgba[..., :3] * 255.0), 0, 255).astype(np.uint8)


def overlay_heatmap(
    frame: Any, saliency: Any, alpha: float = 0.6, cmap: str = "jet", gamma: float = 1.0
) -> np.ndarray:
    """Blend a saliency map over a frame as a heat map -> uint8 (H,W,3).

    The map is resized to the frame, min-max normalised to s in [0,1], coloured with ``cmap``
    and blended with a per-pixel opacity ``alpha * s**gamma``: non-salient pixels show the
    frame unchanged and the most salient ones are ``alpha`` colour.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    f = _as_frame(frame)
    s = normalize_map(resize_map(saliency, f.shape[:2]))
    color = colorize(s, cmap).astype(np.float32)
    weight = (alpha * np.power(s, gamma))[:, :, None]
    out = f.astype(np.float32) * (1.0 - weight) + color * weight
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fixation_points(fixations: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """(N,2) float x,y pixel coordinates of the fixated pixels of a binary map.

    With ``size = (H, W)`` the coordinates are scaled from the map's grid to an image of that
    size (pixel centres map to pixel centres)."""
    fix = _as_map(fixations) > 0
    ys, xs = np.nonzero(fix)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    if size is not None and len(pts):
        h, w = fix.shape
        pts[:, 0] = (pts[:, 0] + 0.5) * (size[1] / w) - 0.5
        pts[:, 1] = (pts[:, 1] + 0.5) * (size[0] / h) - 0.5
    return pts


def draw_fixations(
    frame: Any,
    fixations: Any | None = None,
    color: tuple[int, int, int] = (255, 255, 255),
    radius: int = 2,
    outline: tuple[int, int, int] | None = (0, 0, 0),
    points: Any | None = None,
) -> np.ndarray:
    """Draw fixation dots on a frame -> new uint8 (H,W,3).

    Give either ``fixations``, a binary fixation map of any size (scaled to the frame), or
    ``points``, an (N,2) array of x,y pixel coordinates in the frame (NaN rows are skipped,
    e.g. per-viewer gaze samples while not fixating)."""
    f = _as_frame(frame).copy()
    if (fixations is None) == (points is None):
        raise ValueError("draw_fixations needs exactly one of fixations= (a map) or points= (x,y rows)")
    if points is not None:
        pts = to_numpy(points).astype(np.float64).reshape(-1, 2)
    else:
        pts = fixation_points(fixations, f.shape[:2])
    img = Image.fromarray(f)
    draw = ImageDraw.Draw(img)
    for x, y in pts:
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, fill=tuple(color), outline=None if outline is None else tuple(outline))
    return np.asarray(img)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:  # pragma: no cover - older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def label_image(image: np.ndarray, text: str, height: int = 16) -> np.ndarray:
    """Put a title bar of ``height`` pixels (white text on black) above an RGB image."""
    img = _as_frame(image)
    bar = Image.new("RGB", (img.shape[1], height), (0, 0, 0))
    draw = ImageDraw.Draw(bar)
    size = max(8, height - 4)
    draw.text((3, max(0, (height - size) // 2 - 1)), text, fill=(255, 255, 255), font=_font(size))
    return np.concatenate([np.asarray(bar), img], axis=0)


def hstack_images(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Concatenate RGB images side by side (padded to the tallest), with black gaps."""
    if not images:
        raise ValueError("hstack_images needs at least one image")
    imgs = [_as_frame(i) for i in images]
    h = max(i.shape[0] for i in imgs)
    parts: list[np.ndarray] = []
    for k, im in enumerate(imgs):
        if im.shape[0] < h:
            im = np.concatenate([im, np.zeros((h - im.shape[0], im.shape[1], 3), np.uint8)], axis=0)
        if k:
            parts.append(np.zeros((h, gap, 3), np.uint8))
        parts.append(im)
    return np.concatenate(parts, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB uint8 image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(_as_frame(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def figure_png(fig: Any, dpi: int | None = None) -> bytes:
    """Render a matplotlib figure (pyplot or not) to PNG bytes with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(buf) if dpi is None else fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------
# Static figures for the notebooks
# ----------------------------------------------------------------------------------------


def _subplots(nrows: int, ncols: int, cell: tuple[float, float] = (2.4, 2.4), **kw: Any):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows), squeeze=False, **kw
    )
    return fig, axes


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
        axes[0, c].imshow(_as_frame(img))
        axes[0, c].set_title(labels[c] if labels is not None else f"frame {i}", fontsize=9)
        for r, (name, maps) in enumerate(rows.items(), start=1):
            axes[r, c].imshow(overlay_heatmap(fr[i], to_numpy(maps)[i], alpha=alpha, cmap=cmap))
            if c == 0:
                axes[r, c].set_ylabel(name, fontsize=9)
    axes[0, 0].set_ylabel("frame + fixations" if fixa is not None else "frame", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_dsam_attention(
    frame: Any,
    attention: Sequence[Any],
    saliency: Any | None = None,
    alpha: float = 0.6,
    title: str | None = None,
):
    """The DSAM attention maps M^m (eq. 2) of the four levels on one clip.

    Top row: the spatial-softmax maps at their native resolutions h_m x w_m (each sums to 1;
    the colour bar shows the probability mass per cell); bottom row: the same maps upsampled
    and overlaid on the clip's frame. With ``saliency`` the final map is drawn in a fifth
    column."""
    f = _as_frame(frame)
    maps = [_as_map(a) for a in attention]
    ncols = len(maps) + (saliency is not None)
    fig, axes = _subplots(2, ncols, cell=(2.5, 2.5))
    for m, a in enumerate(maps):
        im = axes[0, m].imshow(a, cmap="viridis", interpolation="nearest")
        axes[0, m].set_title(f"M^{m + 1}  ({a.shape[0]}x{a.shape[1]})", fontsize=9)
        fig.colorbar(im, ax=axes[0, m], fraction=0.046, pad=0.04)
        axes[1, m].imshow(overlay_heatmap(f, a, alpha=alpha))
        axes[1, m].set_title(f"level {m + 1} on the frame", fontsize=9)
    if saliency is not None:
        axes[0, -1].imshow(f)
        axes[0, -1].set_title("input frame", fontsize=9)
        axes[1, -1].imshow(overlay_heatmap(f, saliency, alpha=alpha))
        axes[1, -1].set_title("final map S", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_localization_maps(
    frame: Any, localization: Any, n_maps: int = 8, alpha: float = 0.6, title: str | None = None
):
    """The sound-source localization maps L^j (eqs. 3-5) of one clip: the frame, the mean over
    the j maps, then the first ``n_maps`` maps, each overlaid on the frame.

    ``localization`` is (K,h,w), (1,K,h,w) or (h,w)."""
    f = _as_frame(frame)
    loc = to_numpy(localization).astype(np.float32)
    while loc.ndim > 3 and loc.shape[0] == 1:
        loc = loc[0]
    if loc.ndim == 2:
        loc = loc[None]
    if loc.ndim != 3:
        raise ValueError(f"localization maps must be (K,h,w), got shape {loc.shape}")
    k = min(n_maps, loc.shape[0])
    fig, axes = _subplots(1, k + 2, cell=(2.2, 2.2))
    axes[0, 0].imshow(f)
    axes[0, 0].set_title("frame", fontsize=9)
    axes[0, 1].imshow(overlay_heatmap(f, loc.mean(axis=0), alpha=alpha))
    axes[0, 1].set_title(f"mean of {loc.shape[0]} maps", fontsize=9)
    for j in range(k):
        axes[0, j + 2].imshow(overlay_heatmap(f, loc[j], alpha=alpha))
        axes[0, j + 2].set_title(f"L^{j + 1}", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_nss_over_time(
    curves: Mapping[str, Any],
    fps: float | None = None,
    ax: Any | None = None,
    cursor: int | None = None,
    title: str | None = "NSS over time",
):
    """NSS per frame (eq. 10 as a metric) for several models, as in the paper's Figs. 4-5.

    ``curves`` maps a label to a (T,) array (NaN where a frame has no fixation: drawn as a
    gap). The x axis is seconds when ``fps`` is given, else frames. ``cursor`` draws a vertical
    line at that frame. Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5, 2.6))
    else:
        fig = ax.figure
    _draw_nss(ax, curves, fps, title)
    if cursor is not None:
        x = cursor / fps if fps else cursor
        ax.axvline(x, color="k", lw=1.2, ls="--")
    fig.tight_layout()
    return fig


def _draw_nss(ax: Any, curves: Mapping[str, Any], fps: float | None, title: str | None) -> list[Any]:
    palette = {"ground truth": "k", "human": "0.4", "visual-only": "tab:blue", "audio-visual": "tab:red"}
    lines = []
    for k, (name, y) in enumerate(curves.items()):
        y = to_numpy(y).astype(np.float64).ravel()
        x = np.arange(len(y)) / fps if fps else np.arange(len(y))
        color = palette.get(name, f"C{(k + 2) % 10}")
        (line,) = ax.plot(x, y, lw=1.4, color=color, label=f"{name} (mean {np.nanmean(y):.2f})" if np.isfinite(y).any() else name)
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


def plot_training_curves(log: Any, x: str | None = None, title: str | None = None):
    """Loss / CC / NSS curves from a training log (a pandas DataFrame, a CSV path or a list of
    dicts). Columns are grouped by the quantity they contain ("loss", "cc", "nss"); train and
    validation columns of the same quantity share a panel. ``x`` defaults to the first of
    "step", "epoch", "iteration" present."""
    import matplotlib.pyplot as plt
    import pandas as pd

    if isinstance(log, (str, Path)):
        df = pd.read_csv(log)
    elif isinstance(log, pd.DataFrame):
        df = log
    else:
        df = pd.DataFrame(list(log))
    if x is None:
        x = next((c for c in ("step", "epoch", "iteration") if c in df.columns), None)
    xs = df[x] if x is not None else pd.Series(np.arange(len(df)))
    groups: dict[str, list[str]] = {"loss": [], "cc": [], "nss": []}
    for c in df.columns:
        if c == x or not pd.api.types.is_numeric_dtype(df[c]):
            continue
        tokens = str(c).lower().replace("/", "_").replace("-", "_").split("_")
        for g in groups:
            if g in tokens:
                groups[g].append(c)
                break
    panels = [(g, cols) for g, cols in groups.items() if cols]
    if not panels:
        raise ValueError(f"no loss/cc/nss columns in the training log (columns: {list(df.columns)})")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.0), squeeze=False)
    for ax, (g, cols) in zip(axes[0], panels):
        for c in cols:
            y = df[c]
            ok = y.notna()
            ax.plot(xs[ok], y[ok], marker="o" if ok.sum() < 30 else None, ms=3, label=str(c))
        ax.set_title(g.upper() if g != "loss" else "loss", fontsize=10)
        ax.set_xlabel(x or "row")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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


# ----------------------------------------------------------------------------------------
# Tables: ours next to the paper's Table 1
# ----------------------------------------------------------------------------------------


def _canonical_metric(name: str) -> str:
    key = str(name).lower().strip()
    return METRIC_ALIASES.get(key, key)


def paper_table1():
    """The paper's Table 1 (real databases, overall) as a DataFrame in the paper's layout:
    one row per variant label, columns CC, NSS, AUC-J, sAUC, SIM."""
    import pandas as pd

    rows = {TABLE1_LABELS[v]: {METRIC_LABELS[m]: PAPER_TABLE1[v][m] for m in PAPER_METRICS} for v in TABLE1_LABELS}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method (paper, real data)"
    return df


def ablation_table(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = PAPER_METRICS):
    """Our ablation results in the paper's Table-1 layout.

    ``results`` maps a variant name (a key of ``TABLE1_LABELS``; other names are appended at
    the end under their own name) to a dict of metric values; metric names may use the
    aliases of ``METRIC_ALIASES`` (e.g. "sauc"). Missing metrics are NaN."""
    import pandas as pd

    order = [v for v in TABLE1_LABELS if v in results] + [v for v in results if v not in TABLE1_LABELS]
    rows = {}
    for v in order:
        vals = {_canonical_metric(k): float(x) for k, x in results[v].items() if _is_number(x)}
        rows[TABLE1_LABELS.get(v, v)] = {METRIC_LABELS.get(m, m): vals.get(m, np.nan) for m in metrics}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method"
    return df


def _is_number(x: Any) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def table1_side_by_side(results: Mapping[str, Mapping[str, float]], ours_label: str = "ours (synthetic benchmark)"):
    """Our ablation table and the paper's Table 1 side by side: two column groups, rows in the
    paper's order (a variant missing on one side shows NaN there)."""
    import pandas as pd

    paper_label = "paper Table 1 (real eye-tracking data, 6 databases)"
    both = pd.concat([ablation_table(results), paper_table1()], axis=1, keys=[ours_label, paper_label])
    labels = list(TABLE1_LABELS.values())
    both = both.reindex([r for r in labels if r in both.index] + [r for r in both.index if r not in labels])
    both.index.name = "method"
    return both


def plot_ablation(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = ("cc", "nss", "sim"), paper: bool = True):
    """Seaborn bar plots of the ablation: one panel per metric, our numbers (and, with
    ``paper=True``, the paper's Table 1 beside them as a second hue, clearly labelled)."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    recs = []
    for v, vals in results.items():
        vals = {_canonical_metric(k): x for k, x in vals.items() if _is_number(x)}
        for m in metrics:
            if m in vals:
                recs.append({"variant": TABLE1_LABELS.get(v, v), "metric": METRIC_LABELS.get(m, m), "value": float(vals[m]), "source": "ours (synthetic)"})
            if paper and v in PAPER_TABLE1:
                recs.append({"variant": TABLE1_LABELS[v], "metric": METRIC_LABELS.get(m, m), "value": PAPER_TABLE1[v][m], "source": "paper (real data)"})
    df = pd.DataFrame(recs)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 0.35 * max(4, len(results)) + 1.5), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        sub = df[df.metric == METRIC_LABELS.get(m, m)]
        sns.barplot(data=sub, y="variant", x="value", hue="source", ax=ax, orient="h")
        ax.set_title(METRIC_LABELS.get(m, m), fontsize=10)
        ax.set_ylabel("")
        handles, labels = ax.get_legend_handles_labels()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


# ----------------------------------------------------------------------------------------
# NSS over time and the data behind the browser
# ----------------------------------------------------------------------------------------


def nss_curve(maps: Any, fixations: Any) -> np.ndarray:
    """NSS of every frame (the library's ``metrics.nss``: sample-std z-scoring, mean at the
    fixated pixels); maps are resized to the fixation maps first. NaN where a frame has no
    fixation. ``maps`` (T,h,w), ``fixations`` (T,H,W) bool -> (T,) float64."""
    from stavis_lib import metrics

    m = to_numpy(maps).astype(np.float32)
    fx = to_numpy(fixations) > 0
    if m.shape[0] != fx.shape[0]:
        raise ValueError(f"maps have {m.shape[0]} frames but fixations {fx.shape[0]}")
    out = np.full(m.shape[0], np.nan)
    for t in range(m.shape[0]):
        if not fx[t].any():
            continue
        pred = m[t] if m[t].shape == fx[t].shape else resize_map(m[t], fx[t].shape)
        out[t] = float(metrics.nss(pred, fx[t]))
    return out


@dataclass
class BrowserVideo:
    """Everything the browser shows for one video.

    frames:    (T,H,W,3) uint8 display frames.
    fps:       frame rate.
    maps:      layer name -> (T,h,w) float maps (any h,w; resized for display). The browser's
               toggles are the keys, e.g. "ground truth", "visual-only", "audio-visual",
               "localization".
    fixations: (T,h,w) bool fixation maps (drawn as dots on the "ground truth" panel).
    nss:       curve name -> (T,) NSS per frame (NaN where no fixation).
    media:     the source file with its soundtrack (used for the overlay video's sound).
    note:      a line shown under the title (e.g. "no eye-tracking data for this clip").
    """

    name: str
    frames: np.ndarray
    fps: float
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    fixations: np.ndarray | None = None
    nss: dict[str, np.ndarray] = field(default_factory=dict)
    media: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames)
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"{self.name}: frames must be (T,H,W,3) uint8, got {self.frames.shape} {self.frames.dtype}")
        t = self.frames.shape[0]
        if t == 0:
            raise ValueError(f"{self.name}: no frames")
        for k, v in list(self.maps.items()):
            v = to_numpy(v).astype(np.float32, copy=False)
            if v.ndim != 3 or v.shape[0] != t:
                raise ValueError(f"{self.name}: map '{k}' must be (T={t},h,w), got {v.shape}")
            self.maps[k] = v
        if self.fixations is not None:
            self.fixations = to_numpy(self.fixations) > 0
            if self.fixations.ndim != 3 or self.fixations.shape[0] != t:
                raise ValueError(f"{self.name}: fixations must be (T={t},h,w), got {self.fixations.shape}")
        for k, v in list(self.nss.items()):
            v = to_numpy(v).astype(np.float64).ravel()
            if len(v) != t:
                raise ValueError(f"{self.name}: NSS curve '{k}' has {len(v)} values for {t} frames")
            self.nss[k] = v

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def resize_frame(frame: Any, height: int) -> np.ndarray:
    """Resize an RGB frame to ``height`` pixels, keeping its aspect ratio (bilinear)."""
    f = _as_frame(frame)
    if f.shape[0] == height:
        return f
    width = max(1, int(round(f.shape[1] * height / f.shape[0])))
    return np.asarray(Image.fromarray(f).resize((width, int(height)), Image.BILINEAR))


def render_panels(
    video: BrowserVideo,
    index: int,
    layers: Iterable[str],
    alpha: float = 0.6,
    cmap: str = "jet",
    labels: bool = True,
    height: int | None = 200,
) -> np.ndarray:
    """The browser's picture for frame ``index``: the frame, then one panel per selected layer
    (heat map over the frame; fixation dots on the "ground truth" panel, or on the frame when
    no ground-truth panel is shown). Unknown layers are ignored. Frames are shown ``height``
    pixels high (None: native size)."""
    if not 0 <= index < video.n_frames:
        raise IndexError(f"{video.name}: frame {index} out of range 0..{video.n_frames - 1}")
    frame = video.frames[index] if height is None else resize_frame(video.frames[index], height)
    radius = max(2, int(round(frame.shape[0] / 90)))
    chosen = [name for name in layers if name in video.maps]
    fix = None if video.fixations is None else video.fixations[index]
    if fix is None or "ground truth" in chosen:
        base = frame
    else:
        base = draw_fixations(frame, fix, color=(255, 40, 40), radius=radius)
    bar = 16 if height is None else max(16, height // 10)
    panels = [label_image(base, f"frame {index}", bar) if labels else base]
    for name in chosen:
        img = overlay_heatmap(frame, video.maps[name][index], alpha=alpha, cmap=cmap)
        if name == "ground truth" and fix is not None:
            img = draw_fixations(img, fix, color=(255, 255, 255), radius=radius)
        panels.append(label_image(img, name, bar) if labels else img)
    return hstack_images(panels)


class NssCursorPlot:
    """An NSS-over-time figure (not managed by pyplot) whose cursor line can be moved and the
    result re-rendered to PNG: the browser's bottom plot."""

    def __init__(self, curves: Mapping[str, Any], fps: float | None, size: tuple[float, float] = (8.5, 2.3), dpi: int = 80):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fps = fps
        self.figure = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.curves = {k: to_numpy(v).astype(np.float64).ravel() for k, v in curves.items()}
        _draw_nss(self.ax, self.curves, fps, "NSS over time" if self.curves else "NSS over time: no eye-tracking data for this video")
        self.cursor = self.ax.axvline(0.0, color="k", lw=1.2, ls="--")
        self.frame = 0
        self.figure.tight_layout()

    def set_frame(self, index: int) -> None:
        """Move the cursor to frame ``index``."""
        self.frame = int(index)
        x = index / self.fps if self.fps else float(index)
        self.cursor.set_xdata([x, x])

    @property
    def cursor_x(self) -> float:
        return float(np.asarray(self.cursor.get_xdata())[0])

    def png(self) -> bytes:
        return figure_png(self.figure)


def write_overlay_video(
    path: str | Path,
    video: BrowserVideo,
    layer: str,
    alpha: float = 0.6,
    with_sound: bool = True,
    sound_rate: int = 44100,
) -> Path:
    """Write the frames with one layer's heat map over them as an mp4 at the video's frame
    rate, with the source file's soundtrack (mono, ``sound_rate`` Hz, cut to the frames shown)
    when there is one (``data.media.write_video``)."""
    from stavis_lib.data import media

    if layer not in video.maps:
        raise KeyError(f"{video.name}: no layer '{layer}' (have {sorted(video.maps)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = (overlay_heatmap(video.frames[t], video.maps[layer][t], alpha=alpha) for t in range(video.n_frames))
    audio = None
    if with_sound and video.media and media.probe_video(video.media).has_audio:
        # the shown frames may be the first seconds of the clip: cut the sound to them
        wave = media.load_audio(video.media, sr=sound_rate)
        audio = (wave[: int(round(video.n_frames / video.fps * sound_rate))], sound_rate)
    media.write_video(str(path), frames, fps=video.fps, audio=audio)
    return path


# ----------------------------------------------------------------------------------------
# The interactive browser
# ----------------------------------------------------------------------------------------

VideoSource = Callable[[], BrowserVideo]


class SaliencyBrowser:
    """An ipywidgets browser of saliency overlays (notebook 05).

    ``sources`` maps a display name to a function returning a :class:`BrowserVideo` (called
    lazily the first time the video is chosen, then cached). ``loader`` turns a path (typed in
    the "own video" box or uploaded) into a BrowserVideo. Widgets:

    * a video chooser, a path box with a *Load* button and a file-upload button;
    * a frame slider with a play button;
    * one toggle per layer (ground truth / visual-only / audio-visual / localization);
    * the picture: the frame and one heat-map panel per selected layer;
    * a status line with the frame, time and the NSS values at this frame;
    * the NSS-over-time plot with a cursor at the current frame;
    * *Render overlay video*: writes an mp4 of the first selected layer with the original
      sound and plays it inline (an HTML5 video player with sound).

    All state changes go through methods (``select``, ``set_frame``, ``set_layers``,
    ``render_video``), so the browser can be driven from code and tested without a browser.
    """

    LAYERS: tuple[str, ...] = ("ground truth", "visual-only", "audio-visual", "localization")

    def __init__(
        self,
        sources: Mapping[str, VideoSource],
        loader: Callable[[str], BrowserVideo] | None = None,
        work_dir: str | Path = "browser_work",
        initial: str | None = None,
        layers: Sequence[str] = ("ground truth", "visual-only", "audio-visual"),
        alpha: float = 0.6,
    ) -> None:
        import ipywidgets as w

        if not sources and loader is None:
            raise ValueError("SaliencyBrowser needs at least one video source or a loader")
        self.sources: dict[str, VideoSource] = dict(sources)
        self.loader = loader
        self.work_dir = Path(work_dir)
        self.alpha = alpha
        self._cache: dict[str, BrowserVideo] = {}
        self.video: BrowserVideo | None = None
        self.plot: NssCursorPlot | None = None
        self.frame_index = 0
        self._busy = False

        self.chooser = w.Dropdown(options=list(self.sources), description="video", layout=w.Layout(width="420px"))
        self.path_box = w.Text(placeholder="/path/to/own_video.mp4", description="own video", layout=w.Layout(width="420px"))
        self.load_button = w.Button(description="Load", tooltip="predict saliency for this file and show it")
        self.upload = w.FileUpload(accept="video/*", multiple=False, description="Upload")
        self.slider = w.IntSlider(value=0, min=0, max=0, description="frame", continuous_update=True, layout=w.Layout(width="520px"))
        self.player = w.Play(value=0, min=0, max=0, interval=80, description="play")
        w.jslink((self.player, "value"), (self.slider, "value"))
        self.toggles = {name: w.ToggleButton(value=name in layers, description=name, layout=w.Layout(width="auto")) for name in self.LAYERS}
        self.image = w.Image(format="png")
        self.nss_image = w.Image(format="png")
        self.status = w.HTML(value="")
        self.video_button = w.Button(description="Render overlay video", layout=w.Layout(width="auto"), tooltip="write an mp4 of the first selected layer with the original sound")
        self.video_player = w.Video(format="mp4", autoplay=False, loop=False, controls=True, layout=w.Layout(max_width="640px"))
        self.video_player.layout.display = "none"
        self.message = w.HTML(value="")

        self.chooser.observe(self._on_choose, names="value")
        self.slider.observe(self._on_slider, names="value")
        for t in self.toggles.values():
            t.observe(self._on_toggle, names="value")
        self.load_button.on_click(lambda _b: self.load_path(self.path_box.value))
        self.upload.observe(self._on_upload, names="value")
        self.video_button.on_click(lambda _b: self.render_video())

        self.widget = w.VBox(
            [
                w.HBox([self.chooser]),
                w.HBox([self.path_box, self.load_button, self.upload]),
                w.HBox([self.player, self.slider]),
                w.HBox(list(self.toggles.values())),
                self.status,
                self.image,
                self.nss_image,
                w.HBox([self.video_button, self.message]),
                self.video_player,
            ]
        )
        self.widget.add_class("stavis-browser")
        self.image.add_class("stavis-frame")
        self.nss_image.add_class("stavis-nss")
        self.status.add_class("stavis-status")
        self.slider.add_class("stavis-slider")
        first = initial if initial is not None else (next(iter(self.sources)) if self.sources else None)
        if first is not None:
            self.chooser.value = first
            if self.video is None:  # the observer does not fire when value is unchanged
                self.select(first)

    # -- display -------------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- state changes -------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """The selected layers that the current video has, in the toggle order."""
        have = self.video.maps if self.video is not None else {}
        return [name for name, t in self.toggles.items() if t.value and name in have]

    def add_source(self, name: str, source: VideoSource, select: bool = True) -> None:
        self.sources[name] = source
        self._cache.pop(name, None)
        self.chooser.options = list(self.sources)
        if select:
            self.chooser.value = name

    def select(self, name: str) -> BrowserVideo:
        """Show video ``name`` (loading it on first use) at frame 0."""
        if name not in self._cache:
            self.message.value = f"loading <b>{name}</b> …"
            self._cache[name] = self.sources[name]()
        video = self._cache[name]
        self.video = video
        self.plot = NssCursorPlot(video.nss, video.fps)
        self.video_player.layout.display = "none"
        for layer, toggle in self.toggles.items():
            toggle.disabled = layer not in video.maps
        self._busy = True
        try:
            self.slider.max = video.n_frames - 1
            self.player.max = video.n_frames - 1
            self.player.interval = max(20, int(round(1000.0 / max(video.fps, 1e-3))))
            self.slider.value = 0
            self.player.value = 0
        finally:
            self._busy = False
        self.message.value = video.note
        self.set_frame(0)
        return video

    def set_frame(self, index: int) -> None:
        """Show frame ``index``: redraw the picture, the status line and the NSS cursor."""
        if self.video is None:
            return
        index = int(min(max(index, 0), self.video.n_frames - 1))
        self.frame_index = index
        if self.slider.value != index:
            self._busy = True
            try:
                self.slider.value = index
            finally:
                self._busy = False
        self.image.value = png_bytes(render_panels(self.video, index, self.layers, alpha=self.alpha))
        assert self.plot is not None
        self.plot.set_frame(index)
        self.nss_image.value = self.plot.png()
        self.status.value = self.status_text()

    def set_layers(self, layers: Iterable[str]) -> None:
        chosen = set(layers)
        self._busy = True
        try:
            for name, t in self.toggles.items():
                t.value = name in chosen
        finally:
            self._busy = False
        self.set_frame(self.frame_index)

    def status_text(self) -> str:
        """The status line: video, frame, time and NSS values at the current frame. It carries
        ``data-frame`` / ``data-cursor`` attributes that the browser test reads."""
        v = self.video
        if v is None:
            return ""
        i = self.frame_index
        parts = [f"<b>{v.name}</b>", f"frame {i} of 0–{v.n_frames - 1}", f"t = {i / v.fps:.2f} s"]
        for k, curve in v.nss.items():
            val = curve[i]
            parts.append(f"NSS {k}: {val:.2f}" if np.isfinite(val) else f"NSS {k}: –")
        cursor = self.plot.cursor_x if self.plot is not None else float("nan")
        return (
            f'<span class="stavis-status-line" data-frame="{i}" data-cursor="{cursor:.4f}">'
            + " &nbsp;|&nbsp; ".join(parts)
            + "</span>"
        )

    def load_path(self, path: str) -> BrowserVideo | None:
        """Predict and show a video file given by path (the "own video" box)."""
        path = str(path).strip()
        if not path:
            self.message.value = "type the path of a video file first"
            return None
        if self.loader is None:
            self.message.value = "this browser was built without a loader for own videos"
            return None
        p = Path(path).expanduser()
        if not p.is_file():
            self.message.value = f"<span style='color:#b00'>no such file: {p}</span>"
            return None
        name = f"own: {p.name}"
        loader = self.loader
        self.add_source(name, lambda: loader(str(p)), select=False)
        if self.chooser.value == name:
            self.select(name)
        else:
            self.chooser.value = name  # the observer calls select()
        return self.video

    def render_video(self) -> Path | None:
        """Write the overlay mp4 (first selected layer, original sound) and show the player."""
        if self.video is None:
            return None
        layers = [l for l in self.layers if l != "ground truth"] or self.layers
        if not layers:
            self.message.value = "select a layer to render"
            return None
        layer = layers[0]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{self.video.name}_{layer}")
        out = self.work_dir / f"overlay_{safe}.mp4"
        self.message.value = f"writing {out.name} …"
        write_overlay_video(out, self.video, layer, alpha=self.alpha)
        self.video_player.value = out.read_bytes()
        self.video_player.layout.display = None
        self.message.value = f"overlay video: {layer} ({out})"
        return out

    # -- widget callbacks ----------------------------------------------------------------
    def _on_choose(self, change: dict) -> None:
        if change["new"] is not None:
            self.select(change["new"])

    def _on_slider(self, change: dict) -> None:
        if not self._busy:
            self.set_frame(change["new"])

    def _on_toggle(self, _change: dict) -> None:
        if not self._busy:
            self.set_frame(self.frame_index)

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = Path(str(item["name"])).name
        dest = self.work_dir / "uploads" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        content = item["content"]
        dest.write_bytes(content.tobytes() if hasattr(content, "tobytes") else bytes(content))
        self.load_path(str(dest))


def overall_metrics(datasets: Any, method: str) -> dict[str, float]:
    """The ``ALL`` row of an ``evaluate`` datasets table for one method, as a dict of metrics
    (the dataset row itself when there is no ``ALL`` row)."""
    df = datasets[datasets["method"] == method]
    if df.empty:
        raise KeyError(f"method {method!r} not in the table (have {sorted(set(datasets['method']))})")
    row = df[df["dataset"] == "ALL"] if (df["dataset"] == "ALL").any() else df
    from stavis_lib.metrics import METRICS

    return {m: float(row.iloc[0][m]) for m in METRICS if m in row.columns}


def metrics_table(datasets: Any, methods: Sequence[str] | None = None) -> Any:
    """A compact method x metric table (overall rows) from one or more ``evaluate`` datasets
    tables, in the paper's metric order with its column labels."""
    import pandas as pd

    frames = datasets if isinstance(datasets, pd.DataFrame) else pd.concat(list(datasets), ignore_index=True)
    names = list(dict.fromkeys(frames["method"])) if methods is None else list(methods)
    rows = {name: overall_metrics(frames, name) for name in names}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.rename(columns={"sauc": "auc_shuffled"})
    cols = [c for c in (*PAPER_METRICS, "kld") if c in table.columns]
    table = table[cols].rename(columns={**METRIC_LABELS, "kld": "KLD ↓"})
    table.index.name = "method"
    return table


def layout_summary(root: str | Path):
    """Folders of a release-layout root with their number of files (a DataFrame)."""
    import pandas as pd

    root = Path(root)
    rows = []
    for top in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [f for f in top.rglob("*") if f.is_file()]
        kinds = sorted({f.suffix for f in files})
        example = min(files, key=lambda f: str(f)) if files else None
        rows.append({"folder": top.name + "/", "files": len(files), "types": " ".join(kinds),
                     "example": str(example.relative_to(root)) if example else ""})
    return pd.DataFrame(rows).set_index("folder")


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


def find_shared_data() -> Path | None:
    """The project's shared real-data folder (``$STAVIS_SHARED/data`` or ``<repo>/../shared/data``)
    when present, else None (notebooks then skip the real-data sections)."""
    import os

    candidates = []
    if os.environ.get("STAVIS_SHARED"):
        candidates.append(Path(os.environ["STAVIS_SHARED"]) / "data")
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), None)
