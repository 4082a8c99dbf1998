"""Step 3 of ``predict_video``: run the sliding windows in batches, one map per frame.

The window of frame ``t`` is row ``t`` of ``clips.window_indices`` (frames ``t-8 … t+7``,
edge frames replicated), so every frame, also in videos shorter than the window, gets a map.
Frames are taken from the stream one at a time (:class:`MapStream`): each is brought to the
model's size, normalised once (``clips.normalize_clip``) and held only while a later window
still needs it (:class:`WindowPlan`); as soon as enough windows are ready they run as one
batch (:class:`WindowRunner`), each with the audio excerpt around its frames' real times
(:func:`window_audio`), and their maps leave at the output size (:func:`finish_map`).
With a temporal stride K (``inference.stride``) only every K-th frame's window (and the last
frame's) runs; the maps of the frames between are interpolated in time as they leave.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stavis_lib.inference.fast import PreparedNetwork
from stavis_lib.inference.source import InputError, Source
from stavis_lib.inference.stride import interpolate, interpolation_weight, next_computed
from stavis_lib.runtime import autocast, channels_last_input


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


class WindowPlan:
    """Rows of ``clips.window_indices`` for a stream whose length is only known at its end.

    ``window_indices(n)`` may treat the last frames specially, so a row is used before the
    end of the stream only when it lies more than ``length`` frames before both the frames
    decoded so far and the length hint; with edge frames replicated such rows do not depend
    on n (tests/test_inference.py checks this). The hint doubles when the stream outgrows it.
    With ``stride`` K only the windows of the computed frames run (:meth:`next_computed`).
    """

    def __init__(self, n_hint: int, length: int, stride: int = 1) -> None:
        self.length = length
        self.stride = stride
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
        """The stream ended after ``n_frames`` frames: the rows of the last windows are final."""
        self._set(n_frames)
        self.final = True

    def ready(self, t: int, decoded: int) -> bool:
        """Whether window ``t`` can run now, with ``decoded`` frames read so far."""
        if self.final:
            return t < self.n
        while decoded + self.length >= self.n:
            self._set(max(2 * self.n, decoded + 4 * self.length))
        last = int(self.rows[t].max())
        return last + self.length < decoded and last + self.length < self.n

    def next_computed(self, t: int) -> int | None:
        """The first frame at or after ``t`` whose window runs (``stride.next_computed``; the last
        frame counts once the stream has ended)."""
        return next_computed(t, self.stride, self.n if self.final else None)

    def first_needed(self, t: int) -> int:
        """The first frame that window ``t`` or a later one uses."""
        return int(self.needed_from[t]) if t < self.n else t


class WindowRunner:
    """Model-size frames in, one saliency probability map per window out.

    Holds each frame normalised at model size (``clips.normalize_clip``) while a future window
    needs it, and the frames' times for the audio excerpts (:func:`window_audio`).
    """

    def __init__(self, network: PreparedNetwork, batch_size: int, wave: np.ndarray | None, fps: float,
                 window: int | None) -> None:
        self.network = network
        self.batch_size = batch_size
        self.wave = wave
        self.fps = fps
        self.window = window  # samples per excerpt; None: the model takes no audio
        self.small: dict[int, torch.Tensor] = {}
        self.times: list[float] = []
        self.stem_next = 0
        self.windows_run = 0  # windows through the network so far (padding excluded)

    def add(self, index: int, frame: np.ndarray, time: float) -> None:
        """Frame ``index`` (uint8 at model size), shown at ``time`` seconds."""
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
        stem, activation, dev = self.network.stem, self.network.activation, self.network.device
        for j in range(self.stem_next, int(rows.max()) + 1):
            stem.add(j, self.small[j].to(dev, non_blocking=True))
        self.stem_next = max(self.stem_next, int(rows.max()) + 1)
        return stem.summaries(rows, activation) if activation is not None else (stem.windows(rows),)

    def _clips(self, rows: np.ndarray) -> tuple[torch.Tensor]:
        clips = torch.stack([torch.stack([self.small[int(j)] for j in row], dim=1) for row in rows])
        clips = clips.to(self.network.device, non_blocking=True)
        return (channels_last_input(clips) if self.network.paths.channels_last else clips,)

    def _sound(self, rows: np.ndarray) -> torch.Tensor | None:
        from stavis_lib.data.audio import SOUNDNET_RATE

        if self.window is None:
            return None
        if self.wave is None:
            excerpts = [np.zeros(self.window, np.float32)] * len(rows)
        else:
            excerpts = [window_audio(self.wave, SOUNDNET_RATE, self.fps, self.times[int(r.min())],
                                     self.times[int(r.max())], self.window) for r in rows]
        return torch.from_numpy(np.stack(excerpts)).to(self.network.device, non_blocking=True)

    def run(self, rows: np.ndarray) -> torch.Tensor:
        """(n,S,S) sigmoid probabilities (float32, on the device) of the windows ``rows`` (n, length)."""
        n = len(rows)
        self.windows_run += n
        if self.network.paths.compile and n < self.batch_size:  # one static shape: pad with the last window
            rows = np.concatenate([rows, np.repeat(rows[-1:], self.batch_size - n, axis=0)])
        inputs = self._stem_inputs(rows) if self.network.stem is not None else self._clips(rows)
        sound = self._sound(rows)
        with torch.inference_mode(), autocast(self.network.device, self.network.dtype):
            logits = self.network.logits_of(*inputs, sound)
        return torch.sigmoid(logits[:n].float())[:, 0]


def finish_map(prob: torch.Tensor, out_size: tuple[int, int], normalize: str) -> np.ndarray:
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


def resolve_map_size(map_size: str | tuple[int, int], video_size: tuple[int, int],
                     model_size: int) -> tuple[int, int]:
    """(H,W) of the maps: "video" (``video_size``), "model" (``model_size`` square) or (H, W) as given."""
    if map_size == "video":
        return video_size
    if map_size == "model":
        return (model_size, model_size)
    if isinstance(map_size, (tuple, list)) and len(map_size) == 2:
        return (int(map_size[0]), int(map_size[1]))
    raise ValueError(f"predict_video: map_size={map_size!r}: expected 'video', 'model' or (H, W)")


class MapStream:
    """Decode, batch and predict: iterating yields ``(TimedFrame or None, map)`` in frame order.

    Full-resolution frames (uint8) are held only when ``keep_frames`` (the overlay needs them),
    and only until their map is out. After the iteration the attributes say what was seen:
    ``decoded`` frames, ``video_size`` and ``out_size`` (H,W), ``end_time`` (end of the last
    frame, seconds), ``peak`` (most frames held at once) and ``peak_full`` (most full-resolution ones).
    With ``plan.stride`` K > 1 a batch holds the windows of K-spaced frames, and the maps of the
    frames between two computed ones leave, interpolated, once the later one is computed.
    """

    def __init__(self, src: Source, runner: WindowRunner, plan: WindowPlan, *,
                 preprocess: Callable[[np.ndarray], np.ndarray], size: int, map_size: Any, normalize: str,
                 keep_frames: bool, progress: bool) -> None:
        self.src, self.runner, self.plan = src, runner, plan
        self.preprocess, self.size, self.map_size, self.normalize = preprocess, size, map_size, normalize
        self.keep_frames, self.progress = keep_frames, progress
        self.decoded = self.next_t = self.peak = self.peak_full = 0
        self.video_size: tuple[int, int] | None = None
        self.out_size: tuple[int, int] | None = None
        self.end_time = 0.0
        self._full: dict[int, Any] = {}
        self._bar: Any = None
        self._last: tuple[int, torch.Tensor] | None = None  # the last computed frame and its probabilities

    def __iter__(self) -> Iterator[tuple[Any, np.ndarray]]:
        if self.progress:
            from stavis_lib.progress import progress_bar

            self._bar = progress_bar(total=self.src.n_hint, desc="predict", unit="frame", leave=False)
        try:
            for frame in self.src.frames:
                self._take(frame)
                yield from self._drain(final=False)
            if self.decoded == 0:
                raise InputError(f"predict_video: no frames could be decoded from {self.src.name}")
            self.plan.finish(self.decoded)
            yield from self._drain(final=True)
        finally:
            if self._bar is not None:
                self._bar.close()

    def _take(self, frame: Any) -> None:
        """One decoded frame into the runner (at model size) and, for the overlay, kept as it is."""
        image = np.ascontiguousarray(frame.image)
        if self.video_size is None:
            self.video_size = (int(image.shape[0]), int(image.shape[1]))
            self.out_size = resolve_map_size(self.map_size, self.video_size, self.size)
        self.runner.add(self.decoded, self.preprocess(image), frame.time)
        if self.keep_frames:
            self._full[self.decoded] = frame
        self.end_time = max(self.end_time, frame.time + frame.duration)
        self.decoded += 1
        self.peak = max(self.peak, len(self.runner.small), len(self._full))
        self.peak_full = max(self.peak_full, len(self._full))

    def _drain(self, final: bool) -> Iterator[tuple[Any, np.ndarray]]:
        """Run every full batch of ready windows (and, at the end, the partial last one)."""
        runner, plan = self.runner, self.plan
        while True:
            ts: list[int] = []
            t = plan.next_computed(self.next_t)
            while len(ts) < runner.batch_size and t is not None and t < self.decoded and plan.ready(t, self.decoded):
                ts.append(t)
                t = plan.next_computed(t + 1)
            if not ts or (len(ts) < runner.batch_size and not final):
                return
            probs = runner.run(plan.rows[ts])
            self.next_t = ts[-1] + 1
            for k, t_done in enumerate(ts):
                yield from self._emit(t_done, probs[k])
            runner.forget_before(plan.first_needed(self.next_t))

    def _emit(self, t: int, prob: torch.Tensor) -> Iterator[tuple[Any, np.ndarray]]:
        """The maps of the frames after the previous computed frame up to the computed frame ``t``
        (those between interpolated in time, ``stride.interpolate``), in frame order."""
        if self._last is not None:
            a, before = self._last
            for u in range(a + 1, t):
                w = interpolation_weight(self.runner.times, a, u, t)
                yield self._out(u, interpolate(before, prob, w))
        yield self._out(t, prob)
        self._last = (t, prob)

    def _out(self, t: int, prob: torch.Tensor) -> tuple[Any, np.ndarray]:
        if self._bar is not None:
            self._bar.update(1)
        return self._full.pop(t, None), finish_map(prob, self.out_size, self.normalize)
