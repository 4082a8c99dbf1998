"""Training clips and test sliding windows (STAViS §3.6), with decoded frames cached once.

Conventions (those of the official test path, stated here in full):

* **Frames** are RGB, resized without keeping the aspect ratio to ``sample_size``² with
  PIL bilinear (official ``Scale([112,112])``), after the official intermediate resize to
  320×240 (PIL bicubic, a no-op for 320×240 frames). Values stay 0-255 and the ActivityNet
  means are subtracted, no std division (:func:`normalize_clip`); a clip is ``(3, T, H, W)``.
* **Windows** (:func:`window_indices`): the clip that predicts frame ``f`` (0-based) is
  frames ``f-8 … f+7``, clamped to ``[0, n-1]`` (edge frames are replicated). For interior
  frames this is exactly the official window: the official test code writes the prediction
  of the window that starts at 1-based frame ``j`` (frames ``j … j+15``) as
  ``pred_sal_{j+8}``, i.e. 0-based target ``j+7`` = window start + 8. Unlike the official
  code, *every* frame gets exactly one window (the official code has none for the first
  8 frames and loops short tails), for any video length, including fewer than 16 frames.
  The target frame is always at position ``length // 2`` (= 8) of its window.
* **Training** (§3.6): each video is cut into non-overlapping segments of 90 frames (a
  shorter last segment counts if it has ≥ 1 frame); each epoch draws one random 16-frame
  clip per segment. The clip is a row of :func:`window_indices`: for a segment of at least
  16 frames its start is uniform over the positions that keep it inside the segment; for a
  shorter segment its target frame is uniform over the segment. Ground truth is the dense
  and fixation map of the clip's centre frame ``window[8]``. (The official loader uses
  ``int(round(median(indices)))`` with Python's banker's rounding, which alternates between
  positions 7 and 8; we always use 8, consistent with the test windows.) The same random
  horizontal flip is applied to the frames and both maps. The paper says "90-frame,
  non-overlapping segments"; the official loader actually starts a 90-frame segment every
  74 frames (``step = step_duration - sample_duration``), so its segments overlap by 16
  frames. We follow the paper.
* **Maps** are resized to ``sample_size``² with :func:`stavis_lib.data.maps.resize_dense`
  (bilinear, peak kept at 1) and :func:`stavis_lib.data.maps.resize_fixations` (every
  fixation kept, one pixel each). The official loader instead resizes the fixation map
  bilinearly twice and thresholds ``> 0``, which dilates each fixation to a few pixels.
* **Audio** (§3.2): :func:`stavis_lib.data.audio.clip_audio` over the clip's first … last
  frame, from the video's wav resampled to 22.05 kHz, on the SoundNet scale.

Each frame is decoded once: :class:`FrameCache` stores the resized uint8 frames of a video
as one memory-mapped ``.npy`` file (also the 22.05 kHz audio, and optionally resized maps),
so a sample reads 16 frames from a memory map instead of decoding 16 JPEGs.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import OFFICIAL_WINDOW, SOUNDNET_RATE, clip_audio
from .frames import OFFICIAL_INTERMEDIATE_SIZE, model_frame
from .layout import LayoutError, ReleaseLayout, VideoEntry

__all__ = [
    "ACTIVITYNET_MEAN",
    "OFFICIAL_INTERMEDIATE_SIZE",
    "normalize_clip",
    "window_indices",
    "target_position",
    "segment_bounds",
    "default_cache_dir",
    "FrameCache",
    "DataConfig",
    "TrainClips",
    "VideoWindows",
    "split_windows",
]

ACTIVITYNET_MEAN = (114.7748, 107.7354, 99.4750)
"""Official per-channel RGB means on the 0-255 scale (mean.py, ``--mean_dataset activitynet``)."""



# ---------------------------------------------------------------------------- tensors

def normalize_clip(frames_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 RGB -> ``(3, T, H, W)`` float32 on 0-255 minus the ActivityNet means.

    Official ``ToTensor(norm_value=1)`` + ``Normalize(mean, [1, 1, 1])`` (no std division).
    Also accepts a batch ``(B, T, H, W, 3)`` -> ``(B, 3, T, H, W)``.
    """
    if isinstance(frames_uint8, torch.Tensor) and frames_uint8.device.type != "cpu":
        x = frames_uint8
        if x.shape[-1] != 3 or x.ndim not in (4, 5):
            raise ValueError(f"normalize_clip expects (T,H,W,3) or (B,T,H,W,3) RGB, got shape {tuple(x.shape)}")
        mean = torch.tensor(ACTIVITYNET_MEAN, dtype=torch.float32, device=x.device)
        return (x.to(torch.float32) - mean).movedim(-1, -4).contiguous()
    x = frames_uint8.numpy() if isinstance(frames_uint8, torch.Tensor) else np.asarray(frames_uint8)
    if x.shape[-1] != 3 or x.ndim not in (4, 5):
        raise ValueError(f"normalize_clip expects (T,H,W,3) or (B,T,H,W,3) RGB, got shape {tuple(x.shape)}")
    lead = x.shape[:-4]
    out = np.empty(lead + (3,) + x.shape[-4:-1], dtype=np.float32)
    for c, mean in enumerate(ACTIVITYNET_MEAN):  # planar, channel by channel: fast on CPU
        np.subtract(x[..., c], np.float32(mean), out=out[..., c, :, :, :], dtype=np.float32)
    return torch.from_numpy(out)


def target_position(length: int = 16) -> int:
    """Position of the predicted frame inside its window (8 for 16-frame windows)."""
    return length // 2


def window_indices(n_frames: int, length: int = 16) -> np.ndarray:
    """The window of frame indices that predicts each frame: ``(n_frames, length)`` int64.

    Row ``f`` is ``f - length//2 … f + length - length//2 - 1`` (frames ``f-8 … f+7`` for
    16) clamped to ``[0, n_frames - 1]``: edge frames are replicated, so every frame of any
    video (also shorter than ``length``) has exactly one window, and ``row[length//2] == f``.
    """
    if n_frames <= 0:
        raise ValueError(f"window_indices needs at least one frame, got n_frames={n_frames}")
    if length <= 0:
        raise ValueError(f"window length must be positive, got {length}")
    offsets = np.arange(length, dtype=np.int64) - length // 2
    rows = np.arange(n_frames, dtype=np.int64)[:, None] + offsets[None, :]
    return np.clip(rows, 0, n_frames - 1)


def segment_bounds(n_frames: int, segment_length: int = 90) -> list[tuple[int, int]]:
    """Non-overlapping ``[start, stop)`` segments of ``segment_length`` frames (§3.6); the last may be shorter."""
    if segment_length <= 0:
        raise ValueError(f"segment_length must be positive, got {segment_length}")
    return [(s, min(s + segment_length, n_frames)) for s in range(0, max(n_frames, 0), segment_length)]


# ---------------------------------------------------------------------------- frame cache

def default_cache_dir(root: str | os.PathLike) -> Path:
    """``$XDG_CACHE_HOME/stavis/<hash of the data root>`` (``~/.cache`` when unset)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stavis"
    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:12]
    return base / f"{Path(root).name or 'root'}-{digest}"


def _fingerprint(*files: Path) -> str:
    """Identity of cache sources: size and modification time of each file ("-" when missing)."""
    parts = []
    for f in files:
        try:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{f.name}:-")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".src")


def _atomic_npy(path: Path, shape: tuple[int, ...], dtype, fill: Callable[[np.ndarray], None],
                fingerprint: str = "") -> None:
    """Create ``path`` as an .npy of ``shape`` filled by ``fill(memmap)``, atomically; record the
    sources' fingerprint next to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        fill(arr)
        arr.flush()
        del arr
        os.replace(tmp, path)
        _sidecar(path).write_text(fingerprint)
    finally:
        if tmp.exists():
            tmp.unlink()


class FrameCache:
    """Decoded, resized uint8 frames (and 22.05 kHz audio, resized maps) per video as memory-mapped .npy.

    ``frames_from_layout`` decodes the release's JPEG folder once (a few threads, progress
    bar optional); ``frames_from_video`` streams any video file through
    :func:`stavis_lib.data.media.iter_frames`. Files are written atomically and reused
    when their shape matches; delete the cache folder to rebuild. Open memory maps are kept
    per process and are not pickled (DataLoader workers reopen them).
    """

    def __init__(self, cache_dir: str | os.PathLike, sample_size: int = 112,
                 intermediate_size: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE,
                 threads: int = 2, progress: bool = False):
        self.cache_dir = Path(cache_dir)
        self.sample_size = int(sample_size)
        self.intermediate_size = tuple(intermediate_size) if intermediate_size is not None else None
        self.threads = max(1, int(threads))
        self.progress = progress
        self._open: dict[Path, np.ndarray] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = {}
        return state

    # ------------------------------------------------------------------ paths
    def _tag(self) -> str:
        inter = "x".join(map(str, self.intermediate_size)) if self.intermediate_size else "direct"
        return f"{self.sample_size}_{inter}"

    def frames_path(self, db: str, video: str) -> Path:
        return self.cache_dir / db / video / f"frames_{self._tag()}.npy"

    def audio_path(self, db: str, video: str, rate: int = SOUNDNET_RATE) -> Path:
        return self.cache_dir / db / video / f"audio_{rate}.npy"

    def maps_path(self, db: str, video: str) -> Path:
        return self.cache_dir / db / video / f"maps_{self.sample_size}.npy"

    def _load(self, path: Path) -> np.ndarray:
        arr = self._open.get(path)
        if arr is None:
            arr = np.load(path, mmap_mode="r")
            self._open[path] = arr
        return arr

    def _valid(self, path: Path, shape: tuple[int, ...] | None, fingerprint: str | None = "") -> bool:
        """The cached file exists, has ``shape`` and was built from sources with ``fingerprint``
        (None: any sources)."""
        side = _sidecar(path)
        if not path.is_file() or not side.is_file():
            return False
        if fingerprint is not None and side.read_text() != fingerprint:
            return False
        try:
            arr = np.load(path, mmap_mode="r")
        except (ValueError, OSError):
            return False
        return shape is None or tuple(arr.shape) == tuple(shape)

    # ------------------------------------------------------------------ frames
    def frames_from_layout(self, layout: ReleaseLayout, db: str, video: str, n_frames: int) -> np.ndarray:
        """``(n_frames, S, S, 3)`` uint8 memmap of ``video_frames/<db>/<video>/img_%05d.jpg``."""
        S = self.sample_size
        path = self.frames_path(db, video)
        shape = (int(n_frames), S, S, 3)
        if path in self._open:  # already validated and opened in this process
            return self._open[path]
        n = int(n_frames)
        stamp = _fingerprint(layout.frames_dir(db, video), layout.frame_path(db, video, 1),
                             layout.frame_path(db, video, n))
        # frames deleted after caching (to save disk): the cache is all there is, use it
        sources_gone = not layout.frames_dir(db, video).is_dir() and self._valid(path, shape, None)
        if not sources_gone and not self._valid(path, shape, stamp):
            self._open.pop(path, None)

            def fill(arr: np.ndarray) -> None:
                from PIL import Image

                def decode(i: int) -> np.ndarray:
                    src = layout.frame_path(db, video, i + 1)
                    if not src.is_file():
                        raise LayoutError(f"{src}: missing frame {i + 1} of {n_frames} ({db}/{video})")
                    try:
                        with Image.open(src) as im:
                            return model_frame(im, S, self.intermediate_size)
                    except OSError as exc:
                        raise LayoutError(f"{src}: unreadable frame ({exc})") from exc

                with ThreadPoolExecutor(self.threads) as pool:
                    it: Iterable[np.ndarray] = pool.map(decode, range(int(n_frames)))
                    for i, frame in enumerate(_progress(it, self.progress, int(n_frames), f"{db}/{video}")):
                        arr[i] = frame

            _atomic_npy(path, shape, np.uint8, fill, stamp)
        return self._load(path)

    def frames_from_video(self, path: str | os.PathLike, key: str | None = None) -> np.ndarray:
        """``(T, S, S, 3)`` uint8 memmap of any video file (streamed through ffmpeg, one decode).

        Every frame is decoded at full size and preprocessed by :func:`.frames.model_frame`.
        """
        from .media import iter_frames, probe_video

        src = Path(path)
        stat = src.stat() if src.is_file() else None
        if stat is None:
            from .media import MediaError

            raise MediaError(f"{src}: no such video file")
        # "model_frame": frames cached before the shared preprocessing (ffmpeg's first step) differ
        ident = key or hashlib.sha1(
            f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|model_frame".encode()).hexdigest()[:16]
        out = self.frames_path("_videos", ident)
        if not self._valid(out, None):
            self._open.pop(out, None)
            S = self.sample_size
            out.parent.mkdir(parents=True, exist_ok=True)
            raw = out.with_name(f".{out.name}.{os.getpid()}.raw")
            count = 0
            info = probe_video(src)
            try:
                with open(raw, "wb") as fh:
                    for frame in _progress(iter_frames(src), self.progress, info.n_frames, src.name):
                        fh.write(model_frame(frame, S, self.intermediate_size).tobytes())
                        count += 1

                def fill(arr: np.ndarray) -> None:
                    flat = np.memmap(raw, dtype=np.uint8, mode="r", shape=(count, S, S, 3))
                    for start in range(0, count, 256):
                        arr[start:start + 256] = flat[start:start + 256]
                    del flat

                _atomic_npy(out, (count, S, S, 3), np.uint8, fill)
            finally:
                raw.unlink(missing_ok=True)
        return self._load(out)

    # ------------------------------------------------------------------ audio
    def audio_from_layout(self, layout: ReleaseLayout, db: str, video: str, rate: int = SOUNDNET_RATE,
                          required: bool = True, n_frames: int | None = None, fps: float | None = None) -> np.ndarray:
        """The video's wav on the SoundNet scale at ``rate`` Hz (resampled once, memory-mapped).

        A missing wav raises :class:`LayoutError` when ``required``; otherwise silence of
        ``n_frames / fps`` seconds is used with one warning.
        """
        path = self.audio_path(db, video, rate)
        if path in self._open:  # already validated and opened in this process
            return self._open[path]
        wav = layout.audio_path(db, video)
        stamp = _fingerprint(wav) + f"|{n_frames}|{fps}"
        if not self._valid(path, None, stamp):
            self._open.pop(path, None)
            if wav.is_file():
                wave, src_rate = layout.read_audio(db, video)
                if src_rate != rate:
                    from .media import resample_stream

                    wave = resample_stream([wave], src_rate, rate)
            elif required:
                raise LayoutError(f"{wav}: missing audio file of {db}/{video}")
            else:
                seconds = (n_frames or 0) / (fps or 1.0)
                warnings.warn(f"{wav}: missing audio file; using {seconds:.2f} s of silence", stacklevel=2)
                wave = np.zeros(int(round(seconds * rate)), np.float32)
            wave = np.asarray(wave, np.float32)

            def fill(arr: np.ndarray) -> None:
                arr[:] = wave

            _atomic_npy(path, wave.shape, np.float32, fill, stamp)
        return self._load(path)

    # ------------------------------------------------------------------ maps
    def maps_from_layout(self, layout: ReleaseLayout, db: str, video: str, n_frames: int) -> np.ndarray:
        """``(n_frames, 2, S, S)`` uint8 memmap: channel 0 the resized dense map (0-255),
        channel 1 the resized fixation map (0/1, every fixation kept)."""
        from .maps import resize_dense, resize_fixations

        S = self.sample_size
        path = self.maps_path(db, video)
        shape = (int(n_frames), 2, S, S)
        if path in self._open:  # already validated and opened in this process
            return self._open[path]
        n = int(n_frames)
        stamp = _fingerprint(layout.annotation_dir(db, video), layout.eyemap_path(db, video, 1),
                             layout.eyemap_path(db, video, n), layout.fixmap_path(db, video, 1),
                             layout.fixmap_path(db, video, n))
        if not self._valid(path, shape, stamp):
            self._open.pop(path, None)

            def fill(arr: np.ndarray) -> None:
                def load(i: int) -> tuple[np.ndarray, np.ndarray]:
                    d = resize_dense(layout.read_dense(db, video, i + 1), (S, S))
                    f = resize_fixations(layout.read_fixations(db, video, i + 1), (S, S))
                    return d, f

                with ThreadPoolExecutor(self.threads) as pool:
                    it = pool.map(load, range(int(n_frames)))
                    for i, (d, f) in enumerate(_progress(it, self.progress, int(n_frames), f"{db}/{video} maps")):
                        arr[i, 0] = np.round(d * 255.0).astype(np.uint8)
                        arr[i, 1] = f

            _atomic_npy(path, shape, np.uint8, fill, stamp)
        return self._load(path)


def _progress(it: Iterable, enabled: bool, total: int | None, desc: str, unit: str = "frame") -> Iterator:
    if not enabled:
        return iter(it)
    from stavis_lib.progress import progress_bar

    return iter(progress_bar(it, total=total, desc=desc, unit=unit, leave=False))


# ---------------------------------------------------------------------------- datasets

@dataclass
class DataConfig:
    """Where the data is and how clips are cut (§3.6 defaults: 112², 16 frames, 90-frame segments).

    root: release-layout folder; datasets: database folder names (e.g. ``("Synthetic",)`` or
    the six of the release); split: fold-list split 1-3 (None, or DIEM: the split-less list).
    sample_size / sample_duration: clip size S and length T; segment_length: §3.6 segments;
    audio_window: samples per audio excerpt (official 35280); cache_dir: where
    :class:`FrameCache` keeps its memmaps (default :func:`default_cache_dir`); audio_rate:
    SoundNet's 22050 Hz; flip: random horizontal flips in training; intermediate_size: the
    official 320×240 resize before ``sample_size`` (None: resize directly); cache_maps:
    cache resized maps too (else read per item); require_audio: a missing wav is an error
    (else silence + warning); check_layout: fold lists are checked against the frame
    folders; threads: decode threads while caching; progress: tqdm bars while caching.
    """

    root: str
    datasets: tuple[str, ...]
    split: int | None
    sample_size: int = 112
    sample_duration: int = 16
    segment_length: int = 90
    audio_window: int = OFFICIAL_WINDOW
    cache_dir: str | None = None
    audio_rate: int = SOUNDNET_RATE
    flip: bool = True
    intermediate_size: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE
    cache_maps: bool = False
    require_audio: bool = True
    check_layout: bool = True
    threads: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        self.root = str(self.root)
        if isinstance(self.datasets, str):
            self.datasets = (self.datasets,)
        self.datasets = tuple(self.datasets)
        if self.intermediate_size is not None:
            self.intermediate_size = tuple(self.intermediate_size)
        if self.sample_size <= 0 or self.sample_duration <= 0 or self.segment_length <= 0 or self.audio_window <= 0:
            raise ValueError(f"DataConfig sizes must be positive: {self}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def layout(self) -> ReleaseLayout:
        return ReleaseLayout(self.root)

    def frame_cache(self) -> FrameCache:
        cache = Path(self.cache_dir) if self.cache_dir else default_cache_dir(self.root)
        return FrameCache(cache, self.sample_size, self.intermediate_size, self.threads, self.progress)


class _VideoSource:
    """Frames, audio and maps of one layout video, through a :class:`FrameCache`."""

    def __init__(self, config: DataConfig, cache: FrameCache, db: str, entry: VideoEntry):
        self.config, self.cache, self.db, self.entry = config, cache, db, entry
        self.layout = config.layout()

    def prepare(self) -> None:
        self.frames()
        self.audio()
        if self.config.cache_maps:
            self.cache.maps_from_layout(self.layout, self.db, self.entry.name, self.entry.n_frames)

    def frames(self) -> np.ndarray:
        return self.cache.frames_from_layout(self.layout, self.db, self.entry.name, self.entry.n_frames)

    def audio(self) -> np.ndarray:
        return self.cache.audio_from_layout(self.layout, self.db, self.entry.name, self.config.audio_rate,
                                            self.config.require_audio, self.entry.n_frames, self.entry.fps)

    def maps(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense (float32 [0,1]) and fixation (bool) maps of 0-based frame ``index`` at S×S."""
        S = self.config.sample_size
        if self.config.cache_maps:
            m = self.cache.maps_from_layout(self.layout, self.db, self.entry.name, self.entry.n_frames)[index]
            return m[0].astype(np.float32) / np.float32(255.0), m[1] > 0
        from .maps import resize_dense, resize_fixations

        dense = self.layout.read_dense(self.db, self.entry.name, index + 1)
        fix = self.layout.read_fixations(self.db, self.entry.name, index + 1)
        return resize_dense(dense, (S, S)), resize_fixations(fix, (S, S))


def _item(frames: np.ndarray, window: np.ndarray, wave: np.ndarray | None, rate: int, fps: float,
          audio_window: int, maps: tuple[np.ndarray, np.ndarray] | None, flip: bool,
          video: str, frame: int) -> dict:
    clip = np.asarray(frames[window])  # (T, S, S, 3) gather from the memmap
    if flip:
        clip = clip[:, :, ::-1]
    item: dict = {"frames": normalize_clip(clip)}
    if wave is not None:
        item["audio"] = torch.from_numpy(clip_audio(wave, rate, fps, int(window.min()), int(window.max()),
                                                    audio_window))
    if maps is not None:
        dense, fix = maps
        if flip:
            dense, fix = dense[:, ::-1], fix[:, ::-1]
        item["dense"] = torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))[None]
        item["fix"] = torch.from_numpy(np.ascontiguousarray(fix, dtype=np.float32))[None]
    item["video"] = video
    item["frame"] = int(frame)
    return item


class TrainClips(Dataset):
    """§3.6 training clips of several databases: one random 16-frame clip per 90-frame segment per epoch.

    Item ``i`` is segment ``i`` (of all videos of all ``config.datasets``, fold list
    ``kind`` of ``config.split``); its clip, flip and therefore target depend only on
    ``(seed, epoch, i)``, so results do not depend on worker count or order. Call
    :meth:`set_epoch` each epoch. Item dict: ``frames (3,T,S,S)``, ``audio (window,)``,
    ``dense (1,S,S)`` in [0,1], ``fix (1,S,S)`` in {0,1}, ``video`` ("<db>/<name>"),
    ``frame`` (0-based target frame). Frames and audio are cached on construction
    (``prepare=True``), maps are read per item (or cached with ``config.cache_maps``).
    """

    def __init__(self, config: DataConfig, kind: str = "train", seed: int = 0, prepare: bool = True):
        self.config = config
        self.kind = kind
        self.seed = int(seed)
        self.epoch = 0
        self.cache = config.frame_cache()
        layout = config.layout()
        self.sources: list[_VideoSource] = []
        self.segments: list[tuple[int, int, int]] = []  # (source index, start, stop)
        for db in config.datasets:
            for entry in layout.read_fold_list(db, kind, config.split, check=config.check_layout):
                self.sources.append(_VideoSource(config, self.cache, db, entry))
                for start, stop in segment_bounds(entry.n_frames, config.segment_length):
                    self.segments.append((len(self.sources) - 1, start, stop))
        if not self.segments:
            raise LayoutError(f"{layout.root}: no training video in {config.datasets} ({kind}, split {config.split})")
        if prepare:
            for src in _progress(self.sources, config.progress, len(self.sources), "caching videos", "video"):
                src.prepare()

    def set_epoch(self, epoch: int) -> None:
        """Select the random clips and flips of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.segments)

    def clip_window(self, index: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """The frame indices of segment ``index``'s clip (a row of :func:`window_indices`)."""
        src_i, start, stop = self.segments[index]
        n = self.sources[src_i].entry.n_frames
        T = self.config.sample_duration
        rng = rng or self._rng(index)
        if stop - start >= T:
            target = int(rng.integers(start, stop - T + 1)) + target_position(T)
        else:
            target = int(rng.integers(start, stop))
        offsets = np.arange(T, dtype=np.int64) - target_position(T)
        return np.clip(target + offsets, 0, n - 1)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        rng = self._rng(index)
        window = self.clip_window(index, rng)
        flip = bool(self.config.flip and rng.random() < 0.5)
        src = self.sources[self.segments[index][0]]
        target = int(window[target_position(self.config.sample_duration)])
        return _item(src.frames(), window, src.audio(), self.config.audio_rate, src.entry.fps,
                     self.config.audio_window, src.maps(target), flip,
                     f"{src.db}/{src.entry.name}", target)


class VideoWindows(Dataset):
    """One item per frame of one video: the sliding window of :func:`window_indices` (step 1).

    Same keys as :class:`TrainClips` (``dense``/``fix`` only when maps are available,
    ``audio`` only when a waveform is given). Build with :meth:`from_layout` (a release
    video), :meth:`from_file` (any video file with its soundtrack) or directly from arrays:
    ``frames`` ``(N, S, S, 3)`` uint8 (already resized), ``wave`` mono on the SoundNet scale
    at ``audio_rate``, ``maps(index) -> (dense, fix)`` at S×S.
    """

    def __init__(self, frames: np.ndarray, fps: float, wave: np.ndarray | None = None,
                 audio_rate: int = SOUNDNET_RATE, sample_duration: int = 16, audio_window: int = OFFICIAL_WINDOW,
                 maps: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None, name: str = "video"):
        frames_shape = np.shape(frames)
        if len(frames_shape) != 4 or frames_shape[-1] != 3 or frames_shape[0] == 0:
            raise ValueError(f"{name}: frames must be (N, S, S, 3) with N >= 1, got {frames_shape}")
        self.frames = frames
        self.fps = float(fps)
        self.wave = wave
        self.audio_rate = int(audio_rate)
        self.sample_duration = int(sample_duration)
        self.audio_window = int(audio_window)
        self.maps = maps
        self.name = name
        self.windows = window_indices(frames_shape[0], self.sample_duration)

    @classmethod
    def from_layout(cls, config: DataConfig, db: str, video: str | VideoEntry, with_maps: bool = True,
                    cache: FrameCache | None = None) -> VideoWindows:
        """Windows over a release-layout video (frames, wav, and maps when ``with_maps``)."""
        layout = config.layout()
        if isinstance(video, VideoEntry):
            entry = video
        else:
            entry = VideoEntry(video, layout.count_frames(db, video), 0.0)
            if entry.n_frames == 0:
                raise LayoutError(f"{layout.frames_dir(db, video)}: no frames for video {db}/{video}")
            fps = _fps_from_lists(layout, db, video)
            if fps is None:
                raise LayoutError(f"{layout.root / 'fold_lists'}: no fold list of {db} gives the fps of {video!r}")
            entry = VideoEntry(video, entry.n_frames, fps)
        src = _VideoSource(config, cache or config.frame_cache(), db, entry)
        return cls(src.frames(), entry.fps, src.audio(), config.audio_rate, config.sample_duration,
                   config.audio_window, src.maps if with_maps else None, f"{db}/{entry.name}")

    @classmethod
    def from_file(cls, path: str | os.PathLike, sample_size: int = 112, cache_dir: str | os.PathLike | None = None,
                  sample_duration: int = 16, audio_window: int = OFFICIAL_WINDOW,
                  intermediate_size: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE,
                  progress: bool = False) -> VideoWindows:
        """Windows over any video file: frames cached once (memmap), soundtrack at 22.05 kHz."""
        from .media import load_audio, probe_video

        info = probe_video(path)
        cache = FrameCache(cache_dir or default_cache_dir(Path(path).parent), sample_size, intermediate_size,
                           progress=progress)
        frames = cache.frames_from_video(path)
        wave = load_audio(path, SOUNDNET_RATE)
        return cls(frames, info.fps, wave, SOUNDNET_RATE, sample_duration, audio_window, None, Path(path).stem)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name}: frame {index} out of range (0..{len(self) - 1})")
        maps = self.maps(index) if self.maps is not None else None
        return _item(self.frames, self.windows[index], self.wave, self.audio_rate, self.fps,
                     self.audio_window, maps, False, self.name, index)


def _fps_from_lists(layout: ReleaseLayout, db: str, video: str) -> float | None:
    folder = layout.root / "fold_lists"
    if not folder.is_dir():
        return None
    from .layout import read_fold_list_file

    for path in sorted(folder.glob(f"{db}_list_*_fps.txt")):
        for entry in read_fold_list_file(path):
            if entry.name == video:
                return entry.fps
    return None


def split_windows(config: DataConfig, kind: str = "test", with_maps: bool = True) -> list[VideoWindows]:
    """One :class:`VideoWindows` per video of the ``kind`` fold lists of ``config`` (all datasets)."""
    layout = config.layout()
    cache = config.frame_cache()
    out = []
    for db in config.datasets:
        for entry in layout.read_fold_list(db, kind, config.split, check=config.check_layout):
            out.append(VideoWindows.from_layout(config, db, entry, with_maps, cache))
    return out



