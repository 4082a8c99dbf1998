"""``predict_video``: one saliency map per frame of any video (STAViS test path, §4 of the paper).

The official test path predicts one map per frame with a 16-frame sliding window of step 1.
:func:`predict_video` does the same in four named steps, each in its own module: open the
source (``source.open_source``), prepare the network (``fast.prepare_network``), run the
windows in batches (``windows.MapStream``) and write the outputs (``writers.write_outputs``).
Frames stream through: each is decoded once and held only while a window or the overlay
still needs it, so memory stays flat on long videos (unless ``keep_maps`` asks for the
whole (T,H,W) array back). ``stride=K`` runs only every K-th frame's window (and the last
frame's) and interpolates the maps in time between them (``stride.py``).
"""
from __future__ import annotations

import functools
import json
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stavis_lib.data.audio import OFFICIAL_WINDOW
from stavis_lib.data.frames import OFFICIAL_INTERMEDIATE_SIZE
from stavis_lib.inference.fast import FastPaths, PreparedNetwork, prepare_network
from stavis_lib.inference.source import InputError, Source, open_source
from stavis_lib.inference.stride import check_stride
from stavis_lib.inference.windows import MapStream, WindowPlan, WindowRunner
from stavis_lib.inference.writers import MapsWriter, write_outputs
from stavis_lib.runtime import resolve_autocast_dtype, resolve_device, torch_threads, tune_cpu_allocator

#: most bytes of full-resolution frames ``predict_video`` holds for the overlay; above it (e.g. 4K video:
#: ~40 frames of 25 MB wait for their maps), the overlay decodes the file a second time, in step
#: with the maps, instead
HELD_FRAMES_BUDGET = 256 << 20


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
            batch_size * stride + 2 * sample_duration, whatever the video length).
        compiled: whether the network ran compiled (False also when compiling failed).
        reuse_conv1: whether the stem convolution was shared between windows.
        allocator_tuned: whether this call applied ``runtime.tune_cpu_allocator``.
        times: (T,) presentation time of each frame in seconds (the stream's own timestamps
            for a file, ``t / fps`` for an array).
        duration: seconds from time 0 to the end of the last frame.
        peak_full_frames: most full-resolution frames held at once for the overlay (0 without
            one, or when the overlay decodes the file a second time: ``HELD_FRAMES_BUDGET``).
        stride: the temporal stride K (1: every frame's window ran).
        windows: windows run through the network (``n_frames`` at stride 1; about
            ``n_frames / stride`` otherwise: ``stride.computed_frames``).
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
    stride: int = 1
    windows: int = 0

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


def predict_video(
    source: str | Path | np.ndarray, model: torch.nn.Module,
    audio: str | Path | np.ndarray | tuple[np.ndarray, int] | None = None, fps: float | None = None,
    batch_size: int = 16, device: str | torch.device | None = None, dtype: str | torch.dtype | None = "auto",
    progress: bool = True, overlay_path: str | Path | None = None, maps_path: str | Path | None = None,
    *,
    map_size: str | tuple[int, int] = "video", normalize: str = "minmax", keep_maps: bool = True,
    threads: int | None = None, audio_window: int | None = None, overlay_alpha: float = 0.6,
    channels_last: bool = True, compile: bool = False, reuse_conv1: bool = True, fold_bn: bool = True,
    tune_allocator: bool = True, intermediate_size: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE,
    preprocessed: bool = False, stride: int = 1,
) -> Prediction:
    """Predict one saliency map per frame of a video (STAViS test path, step-1 sliding window).

    Args:
        source: a video file (any format ffmpeg reads) or frames (T,H,W,3) uint8 RGB.
        model: a ``Stavis`` network (``build_model`` / ``load_checkpoint``); run in eval mode
            (its mode is restored afterwards).
        audio: soundtrack override: a file, a wave at 22.05 kHz on the SoundNet scale (16-bit
            samples / 128), or ``(wave, rate)``. Default: the video's own sound; silence (with a
            warning) when it has none or when ``source`` is an array. NaN/infinite samples are
            an error (:class:`InputError`).
        fps: nominal frame rate (default: probed; 25 for arrays). Frames of a file keep their
            own timestamps (variable frame rate); ``1/fps`` is the audio each frame covers.
        batch_size: windows per forward pass.
        device: "cpu", "cuda", ... (default: CUDA when available).
        dtype: autocast dtype: "auto" (CUDA: bf16 where supported, else fp16; CPU: bf16 only
            with AMX-BF16, else fp32: ``runtime.resolve_autocast_dtype``), "float32", "bfloat16"
            or "float16" (CUDA).
        progress: a progress bar (``stavis_lib.progress``: text, or widgets in Jupyter).
        overlay_path: write an .mp4 with the heat map over the frames and the original sound,
            each frame at its own time (``overlay_alpha``: heat-map opacity at saliency 1).
        maps_path: write an .npz with uint8 maps (key ``maps``, (T,H,W)), ``fps`` and ``times``
            (each frame's presentation time in seconds).
        map_size: "video" (the video's resolution), "model" (sample_size square) or (H,W).
        normalize: "minmax" per frame (as the official saved predictions) or "sigmoid"
            (the network's probabilities as they are).
        keep_maps: return the (T,H,W) maps (False keeps memory flat on very long videos).
        threads: torch intra-op threads during the call (default: unchanged).
        audio_window: samples per audio excerpt (default 35280, the official window).
        channels_last, compile, reuse_conv1, fold_bn: the fast paths, described on
            :class:`~stavis_lib.inference.fast.FastPaths`; each gives the same maps up to float rounding.
        tune_allocator: on the CPU, ``runtime.tune_cpu_allocator`` (process-wide and lasting:
            glibc keeps freed activation memory for reuse instead of unmapping it; the full-size
            fp32 path is ~1.6x faster with it on the benchmark machine). False leaves it alone.
        intermediate_size: the first resize step of ``data.frames.model_frame`` (official
            320x240 bicubic, as in training and evaluation); None resizes in one step.
        preprocessed: the frames are a sample_size x sample_size array as ``model_frame``
            gives them (``evaluate.read_frames_resized``), used as they are; other frames are
            then an error. False (default): every frame goes through ``model_frame``.
        stride: temporal stride K >= 1: the network runs on frames 0, K, 2K, … and the last one,
            the maps between are interpolated linearly in time (``inference.stride``; 1: every frame).

    Returns:
        ``Prediction`` with ``maps`` (T,H,W) float32 in [0,1] and facts about the run.
    """
    stride = _check_arguments(batch_size, normalize, stride)
    start = time.perf_counter()
    dev = resolve_device(device)
    ac_dtype = resolve_autocast_dtype(dtype, dev)
    size, length = _model_size(model)
    uses_audio = bool(getattr(model.config, "uses_audio", False))
    src = _open(source, audio, fps, uses_audio, size if preprocessed else None)                # step 1
    allocator_tuned = dev.type == "cpu" and tune_allocator and tune_cpu_allocator()
    paths = FastPaths(fold_bn=fold_bn, reuse_conv1=reuse_conv1, channels_last=channels_last, compile=compile)
    was_training = model.training
    try:
        network = prepare_network(model, dev, ac_dtype, size, paths)                                # step 2
        runner = WindowRunner(network, batch_size, src.wave, src.fps,
                              int(audio_window or OFFICIAL_WINDOW) if uses_audio else None)
        stream, replay = _map_stream(src, runner, WindowPlan(src.n_hint, length, stride), size=size, map_size=map_size,
                                     normalize=normalize, overlay_path=overlay_path, progress=progress,
                                     preprocess=_preprocessor(size, intermediate_size, preprocessed))
        kept = _stream_and_write(stream, maps_path, overlay_path, overlay_alpha, keep_maps, threads,  # steps 3, 4
                                 replay=src.reopen() if replay else None)
    finally:
        model.train(was_training)
    return _prediction(stream, network, kept, time.perf_counter() - start, allocator_tuned=allocator_tuned,
                       overlay_path=overlay_path, maps_path=maps_path)


def _check_arguments(batch_size: int, normalize: str, stride: object) -> int:
    """An ``InputError`` for a bad argument; returns the stride as an int."""
    if batch_size < 1:
        raise InputError(f"predict_video: batch_size must be >= 1, got {batch_size}")
    if normalize not in ("minmax", "sigmoid"):
        raise InputError(f"predict_video: normalize={normalize!r}: expected 'minmax' or 'sigmoid'")
    return check_stride(stride)


def _model_size(model: torch.nn.Module) -> tuple[int, int]:
    """``(sample_size, sample_duration)`` of a ``Stavis`` network."""
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("predict_video: the model has no .config (expected a stavis_lib Stavis network)")
    return int(config.sample_size), int(config.sample_duration)


def _open(source: Any, audio: Any, fps: float | None, uses_audio: bool, preprocessed_size: int | None) -> Source:
    """Step 1: :func:`~stavis_lib.inference.source.open_source`, its messages issued as warnings;
    with ``preprocessed_size``, a frame array of other than that square size is refused."""
    src = open_source(source, audio, fps, uses_audio)
    for message in src.messages:
        warnings.warn(message, stacklevel=3)
    size = preprocessed_size
    if size is not None and src.frame_size != (size, size):
        raise InputError(f"predict_video(preprocessed=True): expected a frame array of {size}x{size} "
                         "frames (model_frame's output)")
    return src


def _preprocessor(size: int, intermediate_size: tuple[int, int] | None,
                  preprocessed: bool) -> Callable[[np.ndarray], np.ndarray]:
    """How a decoded frame becomes a model-size frame: ``model_frame``, or as it is when ``preprocessed``."""
    if preprocessed:
        return lambda image: image
    from stavis_lib.data.frames import model_frame

    return functools.partial(model_frame, size=size, intermediate=intermediate_size)


def _prediction(stream: MapStream, network: PreparedNetwork, kept: list[np.ndarray] | None, seconds: float, *,
                allocator_tuned: bool, overlay_path: str | Path | None, maps_path: str | Path | None) -> Prediction:
    """The :class:`Prediction` of a finished ``stream`` (the kept maps stacked, when kept)."""
    src, runner = stream.src, stream.runner
    assert stream.video_size is not None and stream.out_size is not None
    return Prediction(
        maps=np.stack(kept) if kept is not None else None, fps=src.fps, n_frames=stream.decoded,
        map_size=stream.out_size, video_size=stream.video_size, seconds=seconds, device=str(network.device),
        dtype="float32" if network.dtype is None else str(network.dtype).replace("torch.", ""),
        batch_size=runner.batch_size, has_audio=runner.window is not None and src.wave is not None,
        source=src.name, overlay_path=str(overlay_path) if overlay_path is not None else None,
        maps_path=str(maps_path) if maps_path is not None else None, warnings=src.messages,
        peak_buffered_frames=stream.peak, peak_full_frames=stream.peak_full, compiled=network.compiled,
        reuse_conv1=network.stem is not None, allocator_tuned=allocator_tuned,
        times=np.asarray(runner.times, dtype=np.float64), duration=stream.end_time,
        stride=stream.plan.stride, windows=runner.windows_run,
    )


def _map_stream(src: Source, runner: WindowRunner, plan: WindowPlan, *, size: int, map_size: Any, normalize: str,
                overlay_path: str | Path | None, preprocess: Callable[[np.ndarray], np.ndarray],
                progress: bool) -> tuple[MapStream, bool]:
    """Step 3's stream, and whether the overlay decodes the file a second time (``_replays_overlay``:
    the frames a batch spans, ``batch_size * stride``, and two windows' worth wait for their maps)."""
    replay = _replays_overlay(src, overlay_path, frames_held=runner.batch_size * plan.stride + 2 * plan.length + 2)
    stream = MapStream(src, runner, plan, size=size, map_size=map_size, normalize=normalize, preprocess=preprocess,
                       keep_frames=overlay_path is not None and not replay, progress=progress)
    return stream, replay


def _replays_overlay(src: Source, overlay_path: str | Path | None, frames_held: int) -> bool:
    """Whether the overlay should decode the file a second time, in step with the maps, instead of
    having ``frames_held`` full-resolution frames wait for their maps (over ``HELD_FRAMES_BUDGET`` bytes)."""
    return overlay_path is not None and src.reopen is not None and src.frame_bytes * frames_held > HELD_FRAMES_BUDGET


def _stream_and_write(stream: MapStream, maps_path: str | Path | None, overlay_path: str | Path | None,
                      alpha: float, keep_maps: bool, threads: int | None, *,
                      replay: Iterator[Any] | None) -> list[np.ndarray] | None:
    """Steps 3 and 4: the maps of ``stream``, as they come, to the outputs; returns the kept maps
    (None unless ``keep_maps``). The maps file appears only when every map was written; the overlay
    takes its frames from the stream or, when given, from ``replay`` (a second decoding)."""
    kept: list[np.ndarray] | None = [] if keep_maps else None
    writer = MapsWriter(maps_path, stream.src.fps) if maps_path is not None else None
    try:
        with torch_threads(threads):
            write_outputs(iter(stream), stream.src, writer=writer, kept=kept, overlay_path=overlay_path,
                          alpha=alpha, replay=replay)
        if writer is not None:
            writer.close(times=stream.runner.times)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return kept
