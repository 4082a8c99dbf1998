"""How viewers react to a sound onset: the fraction of viewers whose gaze is on the sounding
object, against the time since the onset, pooled over the onsets of one or more videos.

Input: the per-viewer gaze files of the synthetic benchmark (``gaze/<db>/<video>.npz``, see
:mod:`stavis_lib.data.synthetic`): ``x, y`` ``(viewers, frames)`` in pixels (NaN during a
saccade), ``boxes`` ``(objects, frames, 4)`` as x0, y0, x1, y1, ``sounding`` ``(frames,)`` (the
sounding object or -1) and ``fps``. A viewer is *on* an object when the gaze point lies inside
the object's bounding box in that frame; a viewer in a saccade (NaN) is on no object. The
fraction counts every viewer, so it is measured from the gaze positions alone, not from the
simulator's own record of the targets.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["OnsetResponse", "sound_onsets", "on_object", "onset_response"]


def sound_onsets(sounding: np.ndarray) -> list[tuple[int, int]]:
    """``(frame, object)`` of every onset: a frame whose sounding object (>= 0) differs from the
    previous frame's (the first frame counts when something sounds there)."""
    s = np.asarray(sounding).astype(np.int64).ravel()
    prev = np.concatenate([[-1], s[:-1]])
    frames = np.flatnonzero((s >= 0) & (s != prev))
    return [(int(f), int(s[f])) for f in frames]


def on_object(x: np.ndarray, y: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(viewers, objects, frames)`` bool: the gaze point is inside the object's box (edges
    included); False where the gaze is NaN."""
    x, y = np.asarray(x, np.float64)[:, None, :], np.asarray(y, np.float64)[:, None, :]
    b = np.asarray(boxes, np.float64)
    if b.ndim != 3 or b.shape[-1] != 4 or b.shape[1] != x.shape[-1]:
        raise ValueError(f"boxes must be (objects, frames={x.shape[-1]}, 4); got {b.shape}")
    with np.errstate(invalid="ignore"):
        return (x >= b[None, :, :, 0]) & (x <= b[None, :, :, 2]) & (y >= b[None, :, :, 1]) & (y <= b[None, :, :, 3])


@dataclass(frozen=True)
class OnsetResponse:
    """The mean fraction of viewers on the sounding object at each lag after an onset.

    times:     (L,) seconds since the onset (negative: before it).
    fraction:  (L,) mean over the onsets that have that lag inside their video (NaN if none).
    n_onsets:  (L,) onsets averaged at each lag.
    baseline:  mean fraction over the lags before the onset (NaN without any).
    half_rise: first lag >= 0 at which the fraction reaches halfway from ``baseline`` to its
               maximum after the onset (NaN if it never rises above the baseline).
    """

    times: np.ndarray
    fraction: np.ndarray
    n_onsets: np.ndarray
    baseline: float
    half_rise: float

    @property
    def peak(self) -> float:
        """The largest fraction at a lag >= 0."""
        after = self.fraction[self.times >= 0]
        return float(np.nanmax(after)) if np.isfinite(after).any() else float("nan")


def onset_response(gazes: Sequence[Mapping[str, np.ndarray]], before: float = 0.2,
                   after: float = 1.0) -> OnsetResponse:
    """Pool every sound onset of the videos ``gazes`` (dicts as read by ``maps.read_gaze_npz``)
    over lags from ``-before`` to ``+after`` seconds (whole frames at each video's fps; all
    videos must share one fps)."""
    fps_all = {float(np.asarray(g["fps"])) for g in gazes}
    if len(fps_all) != 1:
        raise ValueError(f"the videos must share one frame rate; got {sorted(fps_all)}")
    fps = fps_all.pop()
    lags = np.arange(-int(round(before * fps)), int(round(after * fps)) + 1)
    total, count = np.zeros(len(lags)), np.zeros(len(lags), np.int64)
    for g in gazes:
        inside = on_object(g["x"], g["y"], g["boxes"])  # (V, K, T)
        n_frames = inside.shape[-1]
        for frame, obj in sound_onsets(g["sounding"]):
            t = frame + lags
            ok = (t >= 0) & (t < n_frames)
            total[ok] += inside[:, obj, t[ok]].mean(axis=0)
            count[ok] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    times = lags / fps
    pre = fraction[times < 0]
    baseline = float(np.nanmean(pre)) if np.isfinite(pre).any() else float("nan")
    return OnsetResponse(times, fraction, count, baseline, _half_rise(times, fraction, baseline))


def _half_rise(times: np.ndarray, fraction: np.ndarray, baseline: float) -> float:
    post = times >= 0
    t, f = times[post], fraction[post]
    if not np.isfinite(f).any() or not np.isfinite(baseline) or np.nanmax(f) <= baseline:
        return float("nan")
    level = baseline + 0.5 * (np.nanmax(f) - baseline)
    return float(t[np.flatnonzero(f >= level)[0]])
