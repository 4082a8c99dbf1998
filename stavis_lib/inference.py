"""Saliency maps for any video: ``predict_video`` (STAViS test path, §4 of the paper).

The official test path predicts one map per frame with a 16-frame sliding window of step 1.
This module does the same, in four named steps (open the source, prepare the network, run
the windows in batches, write the outputs), but:

* each frame is decoded **once** (streaming, ``media.iter_timed_frames``, with its own
  timestamp), brought to the model's ``sample_size`` by ``data.frames.model_frame`` (the
  official 320x240 bicubic then bilinear resize, as in training and evaluation) and
  normalised once (``clips.normalize_clip``: 0-255 RGB minus the ActivityNet means, no std),
  and kept only while a future window still needs it; the full-resolution frame (uint8) is
  kept only while the overlay writer waits for its map;
* the window of frame ``t`` is row ``t`` of ``clips.window_indices`` (edge frames
  replicated), so every frame — also in videos shorter than 16 frames — gets a map;
* many windows run per batch, under ``torch.inference_mode``, channels-last, and autocast
  (bf16 on CPUs with AVX512-BF16/AMX, bf16/fp16 on CUDA; ``dtype`` overrides);
* the audio excerpt of each window follows ``audio.clip_audio``'s rule centred on the
  frames' real timestamps (:func:`window_audio`; silence, with a warning, when the video
  has none); non-finite audio is refused;
* maps are upsampled to the video resolution (or kept at model resolution) one frame at a
  time, and an overlay video (jet-like heat map over the frames at their own times, with the
  **original** soundtrack) and a ``maps.npz`` file can be written while the video streams, so
  memory stays flat on long videos (unless ``keep_maps`` asks for the whole (T,H,W) array back).

Device, precision and memory-format policy come from ``stavis_lib.runtime``.
"""
from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stavis_lib.data.frames import OFFICIAL_INTERMEDIATE_SIZE
from stavis_lib.errors import UserError
from stavis_lib.runtime import (
    resolve_device,
    tune_cpu_allocator,
    resolve_autocast_dtype,
    autocast,
    to_channels_last,
    make_autocast_safe,
    channels_last_input,
    torch_threads,
)

# ----------------------------------------------------------------------------------------
# Heat-map overlay
# ----------------------------------------------------------------------------------------


def jet_colormap(n: int = 256) -> np.ndarray:
    """A jet-like colour table (n,3) uint8: blue (0) -> cyan -> yellow -> red (1)."""
    x = np.linspace(0.0, 1.0, n)
    rgb = np.stack([np.clip(1.5 - np.abs(4.0 * x - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)], axis=1)
    return np.round(rgb * 255.0).astype(np.uint8)


_JET = jet_colormap()


def overlay_frame(frame: np.ndarray, saliency: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a heat map of ``saliency`` (H,W) in [0,1] over ``frame`` (H,W,3) uint8.

    Each pixel mixes ``alpha * s`` of the jet colour with ``1 - alpha * s`` of the frame,
    so non-salient regions show the original picture.
    """
    if frame.shape[:2] != saliency.shape:
        raise ValueError(f"overlay_frame: frame {frame.shape[:2]} and map {saliency.shape} differ in size")
    out = np.empty(frame.shape, np.uint8)
    step = max(1, (1 << 18) // max(1, frame.shape[1]))  # rows per block: float temporaries stay ~10 MB
    for top in range(0, frame.shape[0], step):
        rows = slice(top, top + step)
        s = np.clip(saliency[rows].astype(np.float32), 0.0, 1.0)
        heat = _JET[np.round(s * 255.0).astype(np.uint8)].astype(np.float32)
        w = (alpha * s)[..., None]
        blend = frame[rows].astype(np.float32) * (1.0 - w) + heat * w
        out[rows] = np.clip(np.round(blend), 0, 255)
    return out


# ----------------------------------------------------------------------------------------
# Maps file (streamed .npz)
# ----------------------------------------------------------------------------------------


class MapsWriter:
    """Write uint8 maps (key ``maps``, (T,H,W)), ``fps`` and optionally ``times`` to an ``.npz``.

    Frames go to a raw temporary file next to the target; ``close`` wraps them into a
    standard ``np.load``-able ``.npz`` (header + chunked copy), so memory stays flat, and
    the target appears atomically (``os.replace`` of a temporary with a unique name).
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = float(fps)
        self.count = 0
        self.shape: tuple[int, int] | None = None
        fd, raw = tempfile.mkstemp(prefix=".maps-", suffix=".raw", dir=self.path.parent)
        self._raw_path = Path(raw)
        self._raw = os.fdopen(fd, "wb")

    def add(self, saliency: np.ndarray) -> None:
        """Append one map (H,W) float in [0,1] (stored as round(255 * s))."""
        if self.shape is None:
            self.shape = tuple(saliency.shape)  # type: ignore[assignment]
        elif tuple(saliency.shape) != self.shape:
            raise ValueError(f"MapsWriter({self.path}): map {saliency.shape} differs from {self.shape}")
        self._raw.write(np.round(np.clip(saliency, 0.0, 1.0) * 255.0).astype(np.uint8).tobytes())
        self.count += 1

    def close(self, times: Any = None) -> Path:
        """Write the ``.npz`` (``times``: each frame's time in seconds, stored when given)."""
        self._raw.close()
        height, width = self.shape or (0, 0)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
                with archive.open("maps.npy", "w", force_zip64=True) as member:
                    header = {"descr": "|u1", "fortran_order": False, "shape": (self.count, height, width)}
                    np.lib.format.write_array_header_2_0(member, header)
                    with open(self._raw_path, "rb") as raw:
                        while chunk := raw.read(1 << 22):
                            member.write(chunk)
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(self.fps, dtype=np.float64))
                archive.writestr("fps.npy", buffer.getvalue())
                if times is not None:
                    buffer = io.BytesIO()
                    np.lib.format.write_array(buffer, np.asarray(times, dtype=np.float64))
                    archive.writestr("times.npy", buffer.getvalue())
            os.replace(tmp, self.path)
        finally:
            self._raw_path.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        self._raw.close()
        self._raw_path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------
# predict_video
# ----------------------------------------------------------------------------------------


@dataclass
class Prediction:
    """What ``predict_video`` returns.

    Attributes:
        maps: (T,H,W) float32 in [0,1], one map per frame (None when ``keep_maps=False``).
        fps: frame rate used for the audio windows and the overlay.
        n_frames: number of frames predicted (= decoded).
        map_size: (H,W) of ``maps`` (the video's resolution unless ``map_size`` said otherwise).
        video_size: (H,W) of the decoded frames.
        seconds: wall time of the whole call (decode + model + writing).
        device: e.g. "cpu" or "cuda:0"; dtype: "float32", "bfloat16" or "float16".
        has_audio: whether real sound was used (False: silence was fed).
        peak_buffered_frames: most decoded frames held at once (bounded by about
            batch_size + 2 * sample_duration, whatever the video length).
        compiled: whether the network ran compiled (False also when compiling failed).
        reuse_conv1: whether the stem convolution was shared between windows.
        allocator_tuned: whether this call applied :func:`tune_cpu_allocator`.
        times: (T,) presentation time of each frame in seconds (the stream's own timestamps
            for a file, ``t / fps`` for an array).
        duration: seconds from time 0 to the end of the last frame.
        peak_full_frames: most full-resolution frames held at once for the overlay (0 without
            one, or when the overlay decodes the file a second time: ``HELD_FRAMES_BUDGET``).
    """

    maps: np.ndarray | None
    fps: float
    n_frames: int
    map_size: tuple[int, int]
    video_size: tuple[int, int]
    seconds: float
    device: str
    dtype: str
    batch_size: int
    has_audio: bool
    source: str
    overlay_path: str | None = None
    maps_path: str | None = None
    warnings: list[str] = field(default_factory=list)
    peak_buffered_frames: int = 0
    compiled: bool = False
    reuse_conv1: bool = False
    allocator_tuned: bool = False
    times: np.ndarray | None = None
    duration: float = 0.0
    peak_full_frames: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts about the run (no maps)."""
        d = asdict(self)
        d.pop("maps")
        d.pop("times")
        d["frames"] = self.n_frames
        d["frames_per_second"] = self.frames_per_second
        d["video_seconds"] = self.duration
        return json.loads(json.dumps(d, default=str))


class InputError(UserError, ValueError):
    """``predict_video`` got input it cannot use (non-finite audio, wrong frame array, ...)."""


@dataclass
class _Source:
    frames: Iterator[Any]             # media.TimedFrame: uint8 (H,W,3) RGB at the video's resolution
    n_hint: int                       # expected frame count (exact for arrays, probed for files)
    fps: float                        # nominal rate: the audio excerpt covers 1/fps around each frame
    wave: np.ndarray | None           # float32 at 22.05 kHz, SoundNet scale; None = no sound
    overlay_audio: Any                # what media.write_video gets as `audio`
    name: str
    is_array: bool
    reopen: Any = None                # file sources: a fresh iterator over the same frames
    frame_bytes: int = 0              # bytes of one full-resolution frame (probed)


def _finite_wave(wave: np.ndarray, what: str) -> np.ndarray:
    """``wave`` as float32, or :class:`InputError` when it holds NaN or infinite samples."""
    w = np.asarray(wave, dtype=np.float32).reshape(-1)
    if not np.isfinite(w).all():
        bad = int(np.count_nonzero(~np.isfinite(w)))
        raise InputError(f"{what}: {bad} of {w.size} audio samples are NaN or infinite")
    return w


def _frame_array(source: Any) -> np.ndarray:
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


def _open_source(source: str | Path | np.ndarray, audio: Any, fps: float | None, need_audio: bool,
                 messages: list[str]) -> _Source:
    """Frames (with their times), the soundtrack the model hears and what the overlay plays."""
    from stavis_lib.data import media
    from stavis_lib.data.audio import SOUNDNET_RATE

    wave: np.ndarray | None = None
    overlay_audio: Any = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        info = media.probe_video(path)
        fps = float(fps or info.fps)
        frames: Iterator[Any] = media.iter_timed_frames(path)
        n_hint = max(int(info.n_frames), 1)
        name = str(path)
        if info.has_audio:
            overlay_audio = str(path)
        if audio is None and need_audio:
            if info.has_audio:
                wave = _finite_wave(media.load_audio(path, sr=SOUNDNET_RATE), str(path))
            else:
                messages.append(f"{path}: the video has no sound track; the model gets silence")
    else:
        array = _frame_array(source)
        if fps is None:
            fps = 25.0
            messages.append("predict_video: no fps given for a frame array; assuming 25 fps")
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"predict_video: fps must be a positive number, got {fps}")
        frames = (media.TimedFrame(frame, i / fps, 1.0 / fps) for i, frame in enumerate(array))
        n_hint = int(array.shape[0])
        name = f"array{tuple(array.shape)}"
        if audio is None and need_audio:
            messages.append("predict_video: no audio given for a frame array; the model gets silence")
    if audio is not None:
        if isinstance(audio, (str, Path)):
            wave = _finite_wave(media.load_audio(audio, sr=SOUNDNET_RATE), str(audio))
            overlay_audio = str(audio)
        elif isinstance(audio, tuple):
            samples, rate = audio
            wave = media.resample(_finite_wave(samples, "predict_video: audio"), int(rate), SOUNDNET_RATE)
            overlay_audio = (wave, SOUNDNET_RATE)
        else:
            wave = _finite_wave(audio, "predict_video: audio")
            overlay_audio = (wave, SOUNDNET_RATE)
    is_file = isinstance(source, (str, Path))
    return _Source(frames=frames, n_hint=n_hint, fps=float(fps), wave=wave, overlay_audio=overlay_audio,
                   name=name, is_array=not is_file,
                   reopen=(lambda: media.iter_timed_frames(Path(source))) if is_file else None,
                   frame_bytes=info.width * info.height * 3 if is_file else 0)


def window_audio(wave: np.ndarray, rate: int, fps: float, t_first: float, t_last: float,
                 window: int) -> np.ndarray:
    """The audio excerpt of a window whose first and last frames are shown at ``t_first`` and
    ``t_last`` seconds: ``clips.clip_audio``'s rule (samples from half a frame period before the
    first frame to half a period after the last, Hann-weighted, centred in ``window``) on the
    frames' real times instead of ``index / fps`` (the same numbers at a constant frame rate)."""
    n = rate / fps
    start = int(max(0, t_first * rate - n / 2))
    end = int(min(len(wave), t_last * rate + n / 2))
    excerpt = np.asarray(wave[start:end + 1], dtype=np.float64)
    if len(excerpt) > window:  # centre crop, as clip_audio
        offset = (len(excerpt) - window) // 2
        excerpt = excerpt[offset:offset + window]
    out = np.zeros(window, dtype=np.float32)
    if len(excerpt):
        lo = window // 2 - len(excerpt) // 2
        out[lo:lo + len(excerpt)] = excerpt * np.hanning(len(excerpt))
    return out


class _WindowPlan:
    """Rows of ``clips.window_indices`` for a stream whose length is only known at its end.

    ``window_indices(n)`` may treat the last frames specially, so a row is used before the
    end of the stream only when it lies more than ``length`` frames before both the frames
    decoded so far and the length hint; under the edge-replication convention such rows do not depend
    on n (tests/test_inference.py checks this). The hint doubles when the stream outgrows it.
    """

    def __init__(self, n_hint: int, length: int) -> None:
        self.length = length
        self.final = False
        self._set(max(n_hint, 1))

    def _set(self, n: int) -> None:
        from stavis_lib.data.clips import window_indices

        self.n = n
        self.rows = np.asarray(window_indices(n, self.length), dtype=np.int64)
        if self.rows.shape != (n, self.length):
            raise RuntimeError(f"window_indices({n}, {self.length}) returned shape {self.rows.shape}")
        # suffix minimum: the smallest frame index any window t' >= t still needs
        self.needed_from = np.minimum.accumulate(self.rows.min(axis=1)[::-1])[::-1]

    def finish(self, n_frames: int) -> None:
        self._set(n_frames)
        self.final = True

    def ready(self, t: int, decoded: int) -> bool:
        if self.final:
            return t < self.n
        while decoded + self.length >= self.n:
            self._set(max(2 * self.n, decoded + 4 * self.length))
        last = int(self.rows[t].max())
        return last + self.length < decoded and last + self.length < self.n

    def first_needed(self, t: int) -> int:
        return int(self.needed_from[t]) if t < self.n else t


def _model_size(model: torch.nn.Module) -> tuple[int, int]:
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("predict_video: the model has no .config (expected a stavis_lib Stavis network)")
    return int(config.sample_size), int(config.sample_duration)


class _SaliencyLogits(torch.nn.Module):
    """The saliency logits of a ``Stavis`` network from what ``predict_video`` feeds it.

    ``source`` "clips": ``(clips, audio)``; "conv1": ``(conv1 output, audio)``
    (``forward_from_conv1``); "summary": ``(pooled, tmax, audio)`` (``forward_from_stem_summary``).
    What ``predict_video(compile=True)`` compiles.
    """

    def __init__(self, net: torch.nn.Module, frame_size: tuple[int, int], source: str) -> None:
        super().__init__()
        self.net = net
        self.frame_size = frame_size
        self.source = source

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        if self.source == "summary":
            return self.net.forward_from_stem_summary(*inputs, self.frame_size).saliency
        if self.source == "conv1":
            return self.net.forward_from_conv1(*inputs, self.frame_size).saliency
        return self.net(*inputs).saliency


class _CompiledOrEager:
    """Calls a ``torch.compile``d module; if compiling fails (e.g. no C++ compiler on a CPU
    machine), warns once and runs the module eagerly from then on (same numbers, slower)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.compiled: Any = torch.compile(module, dynamic=False)
        self.failed: str | None = None

    def __call__(self, *args: Any) -> torch.Tensor:
        if self.failed is None:
            try:
                return self.compiled(*args)
            except Exception as error:  # torch._dynamo / inductor errors have no common base
                self.failed = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
                warnings.warn(f"predict_video: torch.compile failed ({self.failed}); running the model "
                              "without compiling", stacklevel=3)
        return self.module(*args)


@dataclass
class _Network:
    """The network as ``predict_video`` runs it (folded, channels-last, autocast-safe, maybe compiled)."""

    logits_of: Any
    stem: Any            # model.stem_cache.StemCache, or None without conv1 reuse
    activation: Any      # the stem's BN + ReLU when the network takes stem summaries
    compiled: bool


def _prepare_network(model: torch.nn.Module, dev: torch.device, ac_dtype: torch.dtype | None, size: int, *,
                     fold_bn: bool, channels_last: bool, reuse_conv1: bool, compile: bool) -> _Network:
    """Step 2 of ``predict_video``: the model on ``dev`` in eval mode with the requested fast paths."""
    net = model.to(dev).eval()
    if fold_bn:
        from stavis_lib.model.fold import fold_batchnorm, fuse_cpu_pointwise

        net = fold_batchnorm(net)
        if dev.type == "cpu":
            fuse_cpu_pointwise(net)  # ReLU and residual adds inside oneDNN's convolutions (fp32)
    if channels_last:
        to_channels_last(net)
    if ac_dtype is not None:
        make_autocast_safe(net)
    stem = activation = None
    if reuse_conv1:
        from stavis_lib.model.stem_cache import StemCache, find_stem_conv, stem_activation

        stem = StemCache(find_stem_conv(net)[2])
        if getattr(net, "takes_stem_summaries", lambda: False)():
            activation = stem_activation(net.trunk)
    feed = "clips" if stem is None else ("conv1" if activation is None else "summary")
    logits_of: Any = _SaliencyLogits(net, (size, size), feed)
    if compile:
        logits_of = _CompiledOrEager(logits_of)
    return _Network(logits_of, stem, activation, compile)


class _WindowRunner:
    """Step 3 of ``predict_video``: model-size frames in, one saliency probability map per window out.

    Holds each frame normalised at model size (``clips.normalize_clip``) while a future window
    needs it, and the frames' times for the audio excerpts (:func:`window_audio`).
    """

    def __init__(self, network: _Network, dev: torch.device, ac_dtype: torch.dtype | None, batch_size: int,
                 channels_last: bool, wave: np.ndarray | None, fps: float, window: int | None) -> None:
        self.network = network
        self.dev = dev
        self.ac_dtype = ac_dtype
        self.batch_size = batch_size
        self.channels_last = channels_last
        self.wave = wave
        self.fps = fps
        self.window = window  # samples per excerpt; None: the model takes no audio
        self.small: dict[int, torch.Tensor] = {}
        self.times: list[float] = []
        self.stem_next = 0

    def add(self, index: int, frame: np.ndarray, time: float) -> None:
        from stavis_lib.data.clips import normalize_clip

        self.small[index] = normalize_clip(frame[None])[:, 0]
        self.times.append(time)

    def forget_before(self, index: int) -> None:
        for j in [j for j in self.small if j < index]:
            del self.small[j]
        if self.network.stem is not None:
            self.network.stem.forget_before(index)

    def _stem_inputs(self, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        """What the network needs of conv1 for these windows, sharing all it can (``model.stem_cache``)."""
        stem, activation = self.network.stem, self.network.activation
        for j in range(self.stem_next, int(rows.max()) + 1):
            stem.add(j, self.small[j].to(self.dev, non_blocking=True))
        self.stem_next = max(self.stem_next, int(rows.max()) + 1)
        return stem.summaries(rows, activation) if activation is not None else (stem.windows(rows),)

    def _sound(self, rows: np.ndarray) -> torch.Tensor | None:
        from stavis_lib.data.audio import SOUNDNET_RATE

        if self.window is None:
            return None
        if self.wave is None:
            excerpts = [np.zeros(self.window, np.float32)] * len(rows)
        else:
            excerpts = [window_audio(self.wave, SOUNDNET_RATE, self.fps, self.times[int(r.min())],
                                     self.times[int(r.max())], self.window) for r in rows]
        return torch.from_numpy(np.stack(excerpts)).to(self.dev, non_blocking=True)

    def run(self, rows: np.ndarray) -> torch.Tensor:
        """(n,S,S) sigmoid probabilities (float32, on the device) of the windows ``rows`` (n, length)."""
        n = len(rows)
        if self.network.compiled and n < self.batch_size:  # one static shape: pad with the last window
            rows = np.concatenate([rows, np.repeat(rows[-1:], self.batch_size - n, axis=0)])
        if self.network.stem is not None:
            inputs = self._stem_inputs(rows)
        else:
            clips = torch.stack([torch.stack([self.small[int(j)] for j in row], dim=1) for row in rows])
            clips = clips.to(self.dev, non_blocking=True)
            inputs = (channels_last_input(clips) if self.channels_last else clips,)
        sound = self._sound(rows)
        with torch.inference_mode(), autocast(self.dev, self.ac_dtype):
            logits = self.network.logits_of(*inputs, sound)
        return torch.sigmoid(logits[:n].float())[:, 0]


def _finish_map(prob: torch.Tensor, out_size: tuple[int, int], normalize: str) -> np.ndarray:
    """One (S,S) probability map at ``out_size`` (bilinear), min-max stretched when asked: (H,W) float32.

    Done frame by frame so that only one full-resolution float map exists at a time.
    """
    p = prob[None, None]
    if tuple(p.shape[-2:]) != tuple(out_size):
        p = F.interpolate(p, size=out_size, mode="bilinear", align_corners=False)
    p = p[0, 0]
    if normalize == "minmax":
        low, high = p.min(), p.max()
        p = p.sub(low) if p.data_ptr() == prob.data_ptr() else p.sub_(low)  # never change ``prob``
        p.div_((high - low).clamp_min(1e-12))
    return p.cpu().numpy().astype(np.float32, copy=False)


#: most bytes of full-resolution frames ``predict_video`` holds for the overlay; above it (e.g. 4K video:
#: ~40 frames of 25 MB wait for their maps), the overlay decodes the file a second time, in step
#: with the maps, instead
HELD_FRAMES_BUDGET = 256 << 20


@dataclass
class _StreamState:
    decoded: int = 0
    next_t: int = 0
    peak: int = 0
    peak_full: int = 0
    video_size: tuple[int, int] | None = None
    out_size: tuple[int, int] | None = None
    end_time: float = 0.0


def _stream_maps(src: _Source, runner: _WindowRunner, plan: _WindowPlan, state: _StreamState, *,
                 size: int, map_size: Any, normalize: str, keep_frames: bool, preprocess: Any,
                 progress: bool) -> Iterator[tuple[Any, np.ndarray]]:
    """Decode, batch and predict: yields ``(TimedFrame or None, map)`` in frame order.

    Full-resolution frames (uint8) are held only when ``keep_frames`` (the overlay needs them),
    and only until their map is out.
    """
    full: dict[int, Any] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=src.n_hint, desc="predict", unit="frame", leave=False)

    def drain(final: bool) -> Iterator[tuple[Any, np.ndarray]]:
        """Run every full batch of ready windows (and, at the end, the partial last one)."""
        while True:
            ts: list[int] = []
            t = state.next_t
            while len(ts) < runner.batch_size and t < state.decoded and plan.ready(t, state.decoded):
                ts.append(t)
                t += 1
            if not ts or (len(ts) < runner.batch_size and not final):
                return
            probs = runner.run(plan.rows[ts])
            state.next_t = ts[-1] + 1
            for k, t_done in enumerate(ts):
                if bar is not None:
                    bar.update(1)
                yield full.pop(t_done, None), _finish_map(probs[k], state.out_size, normalize)
            runner.forget_before(plan.first_needed(state.next_t))

    try:
        for frame in src.frames:
            image = np.ascontiguousarray(frame.image)
            if state.video_size is None:
                state.video_size = (int(image.shape[0]), int(image.shape[1]))
                state.out_size = _resolve_map_size(map_size, state.video_size, size)
            runner.add(state.decoded, preprocess(image), frame.time)
            if keep_frames:
                full[state.decoded] = frame
            state.end_time = max(state.end_time, frame.time + frame.duration)
            state.decoded += 1
            state.peak = max(state.peak, len(runner.small), len(full))
            state.peak_full = max(state.peak_full, len(full))
            yield from drain(final=False)
        if state.decoded == 0:
            raise InputError(f"predict_video: no frames could be decoded from {src.name}")
        plan.finish(state.decoded)
        yield from drain(final=True)
    finally:
        if bar is not None:
            bar.close()


def predict_video(
    source: str | Path | np.ndarray,
    model: torch.nn.Module,
    audio: str | Path | np.ndarray | tuple[np.ndarray, int] | None = None,
    fps: float | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "auto",
    progress: bool = True,
    overlay_path: str | Path | None = None,
    maps_path: str | Path | None = None,
    *,
    map_size: str | tuple[int, int] = "video",
    normalize: str = "minmax",
    keep_maps: bool = True,
    channels_last: bool = True,
    threads: int | None = None,
    audio_window: int | None = None,
    overlay_alpha: float = 0.6,
    compile: bool = False,
    reuse_conv1: bool = True,
    fold_bn: bool = True,
    tune_allocator: bool = True,
    intermediate_size: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE,
    preprocessed: bool = False,
) -> Prediction:
    """Predict one saliency map per frame of a video (STAViS test path, step-1 sliding window).

    Args:
        source: a video file (any format ffmpeg reads) or frames (T,H,W,3) uint8 RGB.
        model: a ``Stavis`` network (``build_model`` / ``load_checkpoint``); put in eval mode.
        audio: soundtrack override: a file, a wave at 22.05 kHz on the SoundNet scale
            (int16/128), or ``(wave, rate)``. Default: the video's own sound; silence (with a
            warning) when it has none or when ``source`` is an array. NaN/infinite samples are
            an error (:class:`InputError`).
        fps: nominal frame rate (default: probed; 25 for arrays). Frames of a file keep their
            own timestamps (variable frame rate); ``1/fps`` is the audio each frame covers.
        batch_size: windows per forward pass.
        device: "cpu", "cuda", ... (default: CUDA when available).
        dtype: autocast dtype, "auto" (bf16 on CUDA and on CPUs with native bf16, else fp32),
            "float32", "bfloat16" or "float16" (CUDA).
        progress: tqdm bar (notebook-aware).
        overlay_path: write an .mp4 with the heat map over the frames and the original sound,
            each frame at its own time.
        maps_path: write an .npz with uint8 maps (key ``maps``, (T,H,W)), ``fps`` and ``times``
            (each frame's presentation time in seconds).
        map_size: "video" (the video's resolution), "model" (sample_size square) or (H,W).
        normalize: "minmax" per frame (as the official saved predictions) or "sigmoid"
            (the network's probabilities as they are).
        keep_maps: return the (T,H,W) maps (False keeps memory flat on very long videos).
        channels_last: channels-last memory format for weights and clips.
        threads: torch intra-op threads during the call (default: unchanged).
        audio_window: samples per audio excerpt (default 35280, the official window).
        overlay_alpha: heat-map opacity at saliency 1.
        compile: ``torch.compile`` the network, for GPUs (on a 2-core AVX-512 CPU inductor's
            kernels were slower than eager oneDNN on channels-last 3D tensors). One compile per
            call shape (the last partial batch is padded to ``batch_size``), ~20-30 s on a
            2-core CPU; falls back to eager with a warning if compiling fails. Combines with
            ``reuse_conv1`` (the network after the stem is compiled).
        reuse_conv1: convolve each frame once with the 7x7x7 stem's temporal taps and build
            every window's stem output, and what the network needs of it after BN + ReLU (its
            temporal mean and temporal max-pool), from per-frame caches (``model.stem_cache``,
            ``Stavis.forward_from_stem_summary``): the same maps up to float summation order,
            6.2 of the 19.5 GFLOP of a full-size window saved.
        fold_bn: run a copy of the network with every BatchNorm folded into the convolution
            before it and, on the CPU in fp32, ReLU and residual adds fused into oneDNN's
            convolutions (``model.fold``): the same function up to float rounding, fewer passes
            over the activations. The model passed in is not modified.
        tune_allocator: on the CPU, :func:`tune_cpu_allocator` (process-wide and lasting:
            glibc keeps freed activation memory for reuse instead of unmapping it; the full-size
            fp32 path is ~1.6x faster with it on the benchmark machine). False leaves the
            allocator alone.
        intermediate_size: the first resize step of ``data.frames.model_frame`` (official
            320x240 bicubic, as in training and evaluation); None resizes in one step.
        preprocessed: the frames are already at model size as ``model_frame`` gives them
            (``evaluate.read_frames_resized``) and are used as they are; a frame array that is
            not ``sample_size`` x ``sample_size`` is then an error. False (default): every
            frame goes through ``model_frame``, whatever its size.

    Returns:
        ``Prediction`` with ``maps`` (T,H,W) float32 in [0,1] and facts about the run.
    """
    from stavis_lib.data.audio import OFFICIAL_WINDOW
    from stavis_lib.data.frames import model_frame

    if batch_size < 1:
        raise InputError(f"predict_video: batch_size must be >= 1, got {batch_size}")
    if normalize not in ("minmax", "sigmoid"):
        raise InputError(f"predict_video: normalize={normalize!r}: expected 'minmax' or 'sigmoid'")
    start = time.perf_counter()
    dev = resolve_device(device)
    ac_dtype = resolve_autocast_dtype(dtype, dev)
    size, length = _model_size(model)
    uses_audio = bool(getattr(model.config, "uses_audio", False))
    messages: list[str] = []
    src = _open_source(source, audio, fps, uses_audio, messages)                      # step 1
    for message in messages:
        warnings.warn(message, stacklevel=2)
    if preprocessed and not (src.is_array and np.asarray(source).shape[1:3] == (size, size)):
        raise InputError(f"predict_video(preprocessed=True): expected a frame array of {size}x{size} "
                         "frames (model_frame's output)")

    def preprocess(image: np.ndarray) -> np.ndarray:
        return image if preprocessed else model_frame(image, size, intermediate_size)

    allocator_tuned = dev.type == "cpu" and tune_allocator and tune_cpu_allocator()
    was_training = model.training
    state = _StreamState()
    kept: list[np.ndarray] = []
    writer = MapsWriter(maps_path, src.fps) if maps_path is not None else None
    try:
        network = _prepare_network(model, dev, ac_dtype, size, fold_bn=fold_bn, channels_last=channels_last,
                                   reuse_conv1=reuse_conv1, compile=compile)          # step 2
        runner = _WindowRunner(network, dev, ac_dtype, batch_size, channels_last, src.wave, src.fps,
                               int(audio_window or OFFICIAL_WINDOW) if uses_audio else None)
        held = src.frame_bytes * (batch_size + 2 * length + 2)
        replay = overlay_path is not None and src.reopen is not None and held > HELD_FRAMES_BUDGET
        pairs = _stream_maps(src, runner, _WindowPlan(src.n_hint, length), state, size=size,  # step 3
                             map_size=map_size, normalize=normalize,
                             keep_frames=overlay_path is not None and not replay,
                             preprocess=preprocess, progress=progress)
        with torch_threads(threads):                                                  # step 4
            _write_outputs(pairs, writer, kept if keep_maps else None, overlay_path, src, overlay_alpha,
                           src.reopen() if replay else None)
        if writer is not None:
            writer.close(times=runner.times)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        model.train(was_training)

    assert state.video_size is not None and state.out_size is not None
    return Prediction(
        maps=np.stack(kept) if keep_maps else None, fps=src.fps, n_frames=state.decoded, map_size=state.out_size,
        video_size=state.video_size, seconds=time.perf_counter() - start, device=str(dev),
        dtype="float32" if ac_dtype is None else str(ac_dtype).replace("torch.", ""),
        batch_size=batch_size, has_audio=uses_audio and src.wave is not None, source=src.name,
        overlay_path=str(overlay_path) if overlay_path is not None else None,
        maps_path=str(maps_path) if maps_path is not None else None, warnings=messages,
        peak_buffered_frames=state.peak, peak_full_frames=state.peak_full,
        compiled=isinstance(network.logits_of, _CompiledOrEager) and network.logits_of.failed is None,
        reuse_conv1=network.stem is not None, allocator_tuned=allocator_tuned,
        times=np.asarray(runner.times, dtype=np.float64), duration=state.end_time,
    )


def _write_outputs(pairs: Iterator[tuple[Any, np.ndarray]], writer: MapsWriter | None, kept: list | None,
                   overlay_path: str | Path | None, src: _Source, alpha: float,
                   replay: Iterator[Any] | None = None) -> None:
    """Step 4 of ``predict_video``: each map to the maps file / the returned list / the overlay video.

    The overlay takes each frame from its pair, or, when ``replay`` is given (frames too large
    to hold while their maps are computed), from a second decoding of the file in step with the maps.
    """
    from stavis_lib.data import media

    def record(saliency: np.ndarray) -> None:
        if kept is not None:
            kept.append(saliency)
        if writer is not None:
            writer.add(saliency)

    if overlay_path is None:
        for _, saliency in pairs:
            record(saliency)
        return

    def overlays() -> Iterator[Any]:
        for frame, saliency in pairs:
            record(saliency)
            if replay is not None:
                frame = next(replay, None)
                if frame is None:
                    raise media.MediaError(f"{src.name}: the second decoding for the overlay ended early")
            image = frame.image
            if saliency.shape != image.shape[:2]:
                shown = np.asarray(Image.fromarray(saliency).resize(image.shape[1::-1], Image.BILINEAR))
            else:
                shown = saliency
            yield media.TimedFrame(overlay_frame(image, shown, alpha), frame.time, frame.duration)

    Path(overlay_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        media.write_video(overlay_path, overlays(), src.fps, audio=src.overlay_audio)
    finally:
        if replay is not None:
            replay.close()  # stops the second decoder


def _resolve_map_size(map_size: str | tuple[int, int], video_size: tuple[int, int], model_size: int) -> tuple[int, int]:
    if map_size == "video":
        return video_size
    if map_size == "model":
        return (model_size, model_size)
    if isinstance(map_size, (tuple, list)) and len(map_size) == 2:
        return (int(map_size[0]), int(map_size[1]))
    raise ValueError(f"predict_video: map_size={map_size!r}: expected 'video', 'model' or (H, W)")
