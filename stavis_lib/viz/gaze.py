"""Figures of the viewers' gaze: how fast viewers turn to a sounding object
(:func:`stavis_lib.data.onsets.onset_response`)."""
from __future__ import annotations

from typing import Any

import numpy as np

from stavis_lib.data.onsets import OnsetResponse

__all__ = ["plot_onset_response"]


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
