"""Per-clip audio excerpt for SoundNet (STAViS §3.2).

The official data loader (its ``saliency_db.py``, lines 175-219) cuts,
for a clip of video frames ``first … last``, the samples that cover those frames, weights
them with a symmetric Hann window and centres them, zero-padded, in a fixed window of
``max_audio_win = int(22050 / 10 * 16) = 35280`` samples (16 frames at ≥ 10 fps at
22.05 kHz). With ``n = Fs / fps`` samples per frame and 1-based frame ``f``::

    start[f] = int(max(0,   (f - 1) / fps * Fs - n / 2))
    end[f]   = int(min(len, (f - 1) / fps * Fs + n / 2))
    excerpt  = wav[start[first] : end[last] + 1]            # length L
    excerpt *= np.hanning(L)
    L even -> slots [W/2 - L/2, W/2 + L/2);  L odd -> [W/2 - L//2, W/2 + L//2 + 1)

:func:`clip_audio` implements exactly this with **0-based** inclusive frame indices
(frame ``i`` here is the official ``f = i + 1``). Differences from the official code:

* every video gets its audio (the official loop skipped the last video of each fold
  list, which therefore trained and tested with silence);
* when the excerpt is longer than the window (fps < 10 for 16 frames: the official code
  would fail), the central ``window`` samples are kept, then Hann-weighted.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SOUNDNET_RATE", "OFFICIAL_WINDOW", "official_window", "frame_sample_bounds", "clip_audio"]

SOUNDNET_RATE = 22050
"""SoundNet's sampling rate (Hz)."""

OFFICIAL_WINDOW = int(22050 / 10 * 16)
"""35280 samples: 16 frames at 10 fps at 22.05 kHz (official ``max_audio_win``)."""


def official_window(rate: int = SOUNDNET_RATE, min_fps: float = 10.0, frames: int = 16) -> int:
    """The official window length rule ``int(rate / min_fps * frames)`` (35280 by default)."""
    return int(rate / min_fps * frames)


def frame_sample_bounds(index: int, n_samples: int, rate: float, fps: float) -> tuple[int, int]:
    """``(start, end)`` sample bounds of 0-based frame ``index`` (official start[f]/end[f], f = index+1).

    ``end`` is inclusive in the official slice ``wav[start[first]:end[last]+1]``.
    """
    n = rate / fps
    centre = index / fps * rate
    start = int(max(0, centre - n / 2))
    end = int(min(n_samples, centre + n / 2))
    return start, end


def clip_audio(wave: np.ndarray, rate: int, fps: float, first: int, last: int,
               window: int = OFFICIAL_WINDOW) -> np.ndarray:
    """Audio excerpt of frames ``first … last`` (0-based, inclusive): Hann-weighted, centred, zero-padded.

    Args:
        wave: mono waveform ``(N,)`` (SoundNet scale in this project; the scale is kept).
        rate: sampling rate of ``wave`` in Hz (22050 for SoundNet).
        fps: video frame rate.
        first, last: first and last frame of the clip, 0-based, inclusive, ``first <= last``.
        window: output length (official 35280).

    Returns:
        float32 ``(window,)``. Frames past the end of the audio contribute nothing (zeros).
    """
    w = np.asarray(wave)
    if w.ndim != 1:
        raise ValueError(f"clip_audio expects a mono (N,) waveform, got shape {w.shape}")
    if fps <= 0 or rate <= 0:
        raise ValueError(f"clip_audio: rate and fps must be positive (rate={rate}, fps={fps})")
    if first < 0 or last < first:
        raise ValueError(f"clip_audio: need 0 <= first <= last, got first={first}, last={last}")
    if window <= 0:
        raise ValueError(f"clip_audio: window must be positive, got {window}")
    start, _ = frame_sample_bounds(first, len(w), rate, fps)
    _, end = frame_sample_bounds(last, len(w), rate, fps)
    excerpt = w[start:end + 1].astype(np.float64)
    if len(excerpt) > window:  # centre crop (the official code has no rule here)
        offset = (len(excerpt) - window) // 2
        excerpt = excerpt[offset:offset + window]
    length = len(excerpt)
    out = np.zeros(window, dtype=np.float32)
    if length == 0:
        return out
    excerpt = excerpt * np.hanning(length)
    half = window // 2
    lo = half - length // 2
    out[lo:lo + length] = excerpt
    return out
