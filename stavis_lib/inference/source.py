"""Step 1 of ``predict_video``: open the source.

A video file or a (T,H,W,3) uint8 frame array becomes a stream of timed frames
(``media.TimedFrame``: a file's frames keep their own timestamps, an array's frame ``t`` is
shown at ``t / fps``), the soundtrack the model hears (float32 at 22.05 kHz on the SoundNet
scale, or None for silence) and what the overlay video plays. Unusable input raises
:class:`InputError`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stavis_lib.errors import UserError


class InputError(UserError, ValueError):
    """``predict_video`` got input it cannot use (non-finite audio, wrong frame array, ...)."""


@dataclass
class Source:
    """An opened video: its frames, its sound, and what was said about them."""

    frames: Iterator[Any]             # media.TimedFrame: uint8 (H,W,3) RGB at the video's resolution
    n_hint: int                       # expected frame count (exact for arrays, probed for files)
    fps: float                        # nominal rate: the audio excerpt covers 1/fps around each frame
    wave: np.ndarray | None           # float32 at 22.05 kHz, SoundNet scale; None = no sound
    overlay_audio: Any                # what media.write_video gets as `audio`
    name: str
    frame_size: tuple[int, int] | None = None         # (H,W) of an array's frames; None for a file
    reopen: Callable[[], Iterator[Any]] | None = None  # file sources: a fresh iterator over the same frames
    frame_bytes: int = 0              # bytes of one full-resolution frame (probed; 0 for an array)
    messages: list[str] = field(default_factory=list)  # warnings for the caller (e.g. "no sound track")


def open_source(source: str | Path | np.ndarray, audio: Any, fps: float | None, need_audio: bool) -> Source:
    """Frames (with their times), the soundtrack the model hears and what the overlay plays.

    ``audio`` (a file, a wave at 22.05 kHz, or ``(wave, rate)``) replaces the video's own sound;
    without it a file's sound track is used when the model takes audio (``need_audio``).
    """
    messages: list[str] = []
    if isinstance(source, (str, Path)):
        src = _open_file(Path(source), fps, need_audio and audio is None, messages)
    else:
        src = _open_array(source, fps, need_audio and audio is None, messages)
    if audio is not None:
        src.wave, src.overlay_audio = _given_audio(audio)
    src.messages = messages
    return src


def _open_file(path: Path, fps: float | None, need_audio: bool, messages: list[str]) -> Source:
    from stavis_lib.data import media
    from stavis_lib.data.audio import SOUNDNET_RATE

    info = media.probe_video(path)
    wave = None
    if need_audio:
        if info.has_audio:
            wave = finite_wave(media.load_audio(path, sr=SOUNDNET_RATE), str(path))
        else:
            messages.append(f"{path}: the video has no sound track; the model gets silence")
    return Source(frames=media.iter_timed_frames(path), n_hint=max(int(info.n_frames), 1),
                  fps=float(fps or info.fps), wave=wave, overlay_audio=str(path) if info.has_audio else None,
                  name=str(path), reopen=lambda: media.iter_timed_frames(path),
                  frame_bytes=info.width * info.height * 3)


def _open_array(source: Any, fps: float | None, need_audio: bool, messages: list[str]) -> Source:
    from stavis_lib.data import media

    array = frame_array(source)
    if fps is None:
        fps = 25.0
        messages.append("predict_video: no fps given for a frame array; assuming 25 fps")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"predict_video: fps must be a positive number, got {fps}")
    if need_audio:
        messages.append("predict_video: no audio given for a frame array; the model gets silence")
    rate = float(fps)
    frames = (media.TimedFrame(frame, i / rate, 1.0 / rate) for i, frame in enumerate(array))
    return Source(frames=frames, n_hint=int(array.shape[0]), fps=rate, wave=None, overlay_audio=None,
                  name=f"array{tuple(array.shape)}", frame_size=(int(array.shape[1]), int(array.shape[2])))


def _given_audio(audio: Any) -> tuple[np.ndarray, Any]:
    """The wave the model hears and what the overlay plays, for an ``audio`` override."""
    from stavis_lib.data import media
    from stavis_lib.data.audio import SOUNDNET_RATE

    if isinstance(audio, (str, Path)):
        return finite_wave(media.load_audio(audio, sr=SOUNDNET_RATE), str(audio)), str(audio)
    if isinstance(audio, tuple):
        samples, rate = audio
        wave = media.resample(finite_wave(samples, "predict_video: audio"), int(rate), SOUNDNET_RATE)
    else:
        wave = finite_wave(audio, "predict_video: audio")
    return wave, (wave, SOUNDNET_RATE)


def finite_wave(wave: np.ndarray, what: str) -> np.ndarray:
    """``wave`` as float32, or :class:`InputError` when it holds NaN or infinite samples."""
    w = np.asarray(wave, dtype=np.float32).reshape(-1)
    if not np.isfinite(w).all():
        bad = int(np.count_nonzero(~np.isfinite(w)))
        raise InputError(f"{what}: {bad} of {w.size} audio samples are NaN or infinite")
    return w


def frame_array(source: Any) -> np.ndarray:
    """A (T,H,W,3) uint8 frame array, or :class:`InputError` saying what is wrong with it."""
    array = np.asarray(source)
    if array.dtype != np.uint8:
        finite = "" if not np.issubdtype(array.dtype, np.floating) or np.isfinite(array).all() else \
            " (with NaN or infinite values)"
        raise InputError(f"predict_video: frames must be a (T,H,W,3) uint8 array, got {array.dtype}{finite}")
    if array.ndim != 4 or array.shape[-1] != 3:
        raise InputError(f"predict_video: frames must be a (T,H,W,3) uint8 array, got shape {array.shape}")
    if array.shape[0] == 0:
        raise InputError("predict_video: the frame array is empty")
    return array
