"""Figures of the viewers' gaze: how fast viewers turn to a sounding object
(:func:`stavis_lib.data.onsets.onset_response`), and ground-truth maps with their fixations
when no video frames are at hand (e.g. a DIEM import: gaze files only)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stavis_lib.data.onsets import OnsetResponse
from stavis_lib.viz.overlay import fixation_points, to_numpy

__all__ = ["plot_onset_response", "plot_gaze_maps"]


def plot_onset_response(response: OnsetResponse, title: str | None = None, ax: Any = None):
    """The fraction of viewers on the sounding object against the time since a sound onset,
    with the onset, the pre-onset baseline and the half-rise time marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.2))
    else:
        fig = ax.figure
    r = response
    ax.plot(r.times * 1000, r.fraction, "o-", color="tab:red", ms=3.5, lw=1.5, label="on the sounding object")
    ax.axvline(0, color="k", lw=1, label="sound onset")
    if np.isfinite(r.baseline):
        ax.axhline(r.baseline, color="0.5", ls=":", lw=1.2, label=f"before the onset ({r.baseline:.2f})")
    if np.isfinite(r.half_rise):
        ax.axvline(r.half_rise * 1000, color="tab:blue", ls="--", lw=1.2,
                   label=f"half of the rise: {r.half_rise * 1000:.0f} ms")
    ax.set_xlabel("time since the sound onset (ms)")
    ax.set_ylabel("fraction of viewers")
    ax.set_ylim(0, 1)
    n = int(r.n_onsets.max()) if len(r.n_onsets) else 0
    ax.set_title(title or f"viewers on the sounding object ({n} onsets pooled)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_gaze_maps(dense: Any, fixations: Any, labels: Sequence[str], title: str = ""):
    """Dense maps ``(N,H,W)`` in [0, 1] on a shared colour scale, with the fixated pixels of
    ``fixations`` ``(N,H,W)`` as dots: one panel per map, titled by ``labels``, and a colorbar.
    For ground truth without frames (nothing is drawn under the maps)."""
    import matplotlib.pyplot as plt

    d, f = to_numpy(dense).astype(np.float32), to_numpy(fixations) > 0
    if d.shape != f.shape or d.ndim != 3 or len(labels) != d.shape[0]:
        raise ValueError(f"dense {d.shape}, fixations {f.shape} and {len(labels)} labels must agree (N,H,W)")
    n = d.shape[0]
    aspect = d.shape[1] / d.shape[2]
    fig, axes = plt.subplots(1, n, figsize=(10, 10 / n * aspect + 0.9), squeeze=False)
    for ax, m, fx, label in zip(axes[0], d, f, labels):
        im = ax.imshow(m, cmap="magma", vmin=0.0, vmax=1.0)
        pts = fixation_points(fx)
        ax.plot(pts[:, 0], pts[:, 1], "o", ms=2.5, mfc="cyan", mec="k", mew=0.4)
        ax.set_title(f"{label}: {len(pts)} fixated px", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("dense map + fixations", fontsize=8)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.015, pad=0.01, label="dense map (max = 1)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
