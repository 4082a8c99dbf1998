"""Temporal stride of ``predict_video``: the network on every K-th frame's window, maps in between
interpolated linearly in time.

Which frames are computed (the edge rule): frames ``0, K, 2K, …`` and always the last frame
``n-1`` (:func:`computed_frames`). Every other frame lies between two computed frames, so its
map is an interpolation, never an extrapolation: for frame ``u`` between computed frames
``a < u < b`` with presentation times ``τ``, the network's probability maps ``P`` give

    P[u] = (1 - w) P[a] + w P[b],    w = (τ[u] - τ[a]) / (τ[b] - τ[a])

on the frames' real timestamps (a variable-frame-rate file keeps its own spacing; at a
constant rate ``w = (u - a) / (b - a)``). Where the timestamps do not increase from ``a`` to
``b`` the frame positions give ``w`` instead. The interpolated probabilities are then finished
as every map is (resized to the output size, min-max stretched when asked): with
``normalize="sigmoid"`` the output maps are exactly this interpolation, with ``"minmax"`` each
interpolated map is stretched to [0, 1] like the computed ones. ``K = 1`` computes every frame.

The fast paths and batching apply as at K = 1: a batch holds the windows of K-spaced frames.
The conv1 reuse (``model.stem_cache``) stays exact, its partials being per frame whichever
windows run; but as every frame of a computed window is still convolved once, its saving
shrinks with K: per computed window the stem costs min(K, T)/T of its direct FLOPs
(T: the window length, 16), none saved from K = T on.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

from stavis_lib.inference.source import InputError


#: what a stride must be, as the errors say it
STRIDE_RULE = "must be a whole number >= 1 (1 runs the network on every frame)"


def check_stride(stride: object, name: str = "predict_video: stride") -> int:
    """``stride`` as an int >= 1; anything else (0, a negative number, a float, a bool, text)
    raises a one-line :class:`InputError` naming ``name``."""
    if isinstance(stride, numbers.Integral) and not isinstance(stride, bool) and stride >= 1:
        return int(stride)
    raise InputError(f"{name} {stride!r}: {STRIDE_RULE}")


def parse_stride(text: str, name: str = "--stride") -> int:
    """A command-line stride (digits) as an int >= 1; anything else raises a one-line
    :class:`InputError` naming ``name``."""
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    raise InputError(f"{name} {text}: {STRIDE_RULE}")


def next_computed(t: int, stride: int, n_frames: int | None) -> int | None:
    """The first computed frame at or after ``t``: the next multiple of ``stride`` or, once the
    stream's length ``n_frames`` is known (else None), the last frame; None when none is left."""
    c = -(-t // stride) * stride
    if n_frames is None:
        return c
    if c <= n_frames - 1:
        return c
    return n_frames - 1 if t <= n_frames - 1 else None


def computed_frames(n_frames: int, stride: int) -> np.ndarray:
    """The frames whose windows run through the network: ``0, K, 2K, …`` and ``n_frames - 1``."""
    frames = np.arange(0, n_frames, stride, dtype=np.int64)
    return frames if frames[-1] == n_frames - 1 else np.append(frames, n_frames - 1)


def interpolation_weight(times: Sequence[float], a: int, u: int, b: int) -> float:
    """``w`` of frame ``u`` between computed frames ``a < u < b``: its place in time between them
    (the frame positions where the times do not increase), clipped to [0, 1]."""
    span = float(times[b]) - float(times[a])
    if span > 0:
        w = (float(times[u]) - float(times[a])) / span
    else:
        w = (u - a) / (b - a)
    return min(max(w, 0.0), 1.0)


def interpolate(before: torch.Tensor, after: torch.Tensor, w: float) -> torch.Tensor:
    """``(1 - w) before + w after`` (probability maps, float32)."""
    return torch.lerp(before, after, w)
