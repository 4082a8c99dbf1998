"""The official STAViS data release layout: read and write.

Folder structure (one root holding the six databases of the release, or the synthetic
benchmark, which uses the same layout)::

    video_frames/<DB>/<video>/img_%05d.jpg                 frames, 1-based
    video_audio/<DB>/<video>/<video>.wav                   soundtrack (16-bit PCM)
    annotations/<DB>/<video>/maps/eyeMap_%05d.jpg          dense saliency map (gray JPEG)
    annotations/<DB>/<video>/fixMap_%05d.mat               binary fixation map, MATLAB key 'eyeMap'
    fold_lists/<DB>_list_{train,test}_{k}_fps.txt          one line per video: "name nframes fps"
    fold_lists/DIEM_list_{train,test}_fps.txt              DIEM: one standard split, no _{k}

Audio is exchanged on the SoundNet scale (int16 / 128, as the official loader reads 16-bit WAV).
Every error about bad data is a :class:`LayoutError` that names the offending file.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stavis_lib.errors import UserError

__all__ = [
    "LayoutError",
    "VideoEntry",
    "ReleaseLayout",
    "read_fold_list_file",
    "write_fold_list_file",
    "FOLD_KINDS",
]

FOLD_KINDS = ("train", "test")


class LayoutError(UserError, RuntimeError):
    """Missing or malformed data in a release-layout folder; the message names the file."""


@dataclass(frozen=True)
class VideoEntry:
    """One line of a fold list: video name, number of frames, frame rate."""

    name: str
    n_frames: int
    fps: float


def read_fold_list_file(path: str | os.PathLike) -> list[VideoEntry]:
    """Parse a fold list (``name nframes fps`` per line; blank lines ignored).

    Raises :class:`LayoutError` naming the file and line for a malformed line
    (wrong field count, non-integer or non-positive frame count, bad fps) or a
    duplicated video, and for a missing file.
    """
    p = Path(path)
    if not p.is_file():
        raise LayoutError(f"{p}: fold list not found")
    entries: list[VideoEntry] = []
    seen: set[str] = set()
    for number, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{p} line {number}"
        if len(fields) != 3:
            raise LayoutError(f"{where}: expected 'name nframes fps', got {line.strip()!r}")
        name, frames_text, fps_text = fields
        try:
            n_frames = int(frames_text)
            fps = float(fps_text)
        except ValueError:
            raise LayoutError(f"{where}: nframes must be an integer and fps a number, got {line.strip()!r}") from None
        if n_frames <= 0 or not np.isfinite(fps) or fps <= 0:
            raise LayoutError(f"{where}: nframes and fps must be positive, got {line.strip()!r}")
        if name in seen:
            raise LayoutError(f"{where}: video {name!r} is listed twice")
        seen.add(name)
        entries.append(VideoEntry(name, n_frames, fps))
    return entries


def write_fold_list_file(path: str | os.PathLike, entries: Iterable[VideoEntry]) -> None:
    """Write a fold list in the release format (``name nframes fps`` with 6 decimals)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for e in entries:
        if any(c.isspace() for c in e.name) or not e.name:
            raise LayoutError(f"{p}: video name {e.name!r} is empty or contains whitespace")
        lines.append(f"{e.name} {int(e.n_frames)} {float(e.fps):.6f}\n")
    p.write_text("".join(lines), encoding="utf-8")


class ReleaseLayout:
    """Paths and readers/writers for one root folder in the official release layout."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ReleaseLayout({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    def frames_dir(self, db: str, video: str) -> Path:
        return self.root / "video_frames" / db / video

    def frame_path(self, db: str, video: str, index: int) -> Path:
        """Frame ``index`` (1-based, as in the release): ``video_frames/<db>/<video>/img_%05d.jpg``."""
        return self.frames_dir(db, video) / f"img_{int(index):05d}.jpg"

    def audio_path(self, db: str, video: str) -> Path:
        return self.root / "video_audio" / db / video / f"{video}.wav"

    def annotation_dir(self, db: str, video: str) -> Path:
        return self.root / "annotations" / db / video

    def eyemap_path(self, db: str, video: str, index: int) -> Path:
        """Dense map of frame ``index`` (1-based): ``annotations/<db>/<video>/maps/eyeMap_%05d.jpg``."""
        return self.annotation_dir(db, video) / "maps" / f"eyeMap_{int(index):05d}.jpg"

    def fixmap_path(self, db: str, video: str, index: int) -> Path:
        """Fixation map of frame ``index`` (1-based): ``annotations/<db>/<video>/fixMap_%05d.mat``."""
        return self.annotation_dir(db, video) / f"fixMap_{int(index):05d}.mat"

    def fold_list_path(self, db: str, kind: str, split: int | None) -> Path:
        """``fold_lists/<db>_list_<kind>_<split>_fps.txt``, or ``<db>_list_<kind>_fps.txt`` when split is None."""
        if kind not in FOLD_KINDS:
            raise ValueError(f"fold list kind must be one of {FOLD_KINDS}, got {kind!r}")
        suffix = f"_{int(split)}" if split is not None else ""
        return self.root / "fold_lists" / f"{db}_list_{kind}{suffix}_fps.txt"

    def resolve_fold_list(self, db: str, kind: str, split: int | None) -> Path:
        """The fold list file to use: the split's own file, else the split-less one (DIEM's standard split)."""
        path = self.fold_list_path(db, kind, split)
        if split is not None and not path.is_file():
            fallback = self.fold_list_path(db, kind, None)
            if fallback.is_file():
                return fallback
        return path

    # ------------------------------------------------------------------ discovery
    def databases(self) -> list[str]:
        """Databases that have a frame folder."""
        base = self.root / "video_frames"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def videos(self, db: str) -> list[str]:
        """Videos of a database that have a frame folder."""
        base = self.root / "video_frames" / db
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def count_frames(self, db: str, video: str) -> int:
        """Number of ``img_*.jpg`` files in a video's frame folder (0 when the folder is missing)."""
        d = self.frames_dir(db, video)
        if not d.is_dir():
            return 0
        with os.scandir(d) as it:
            return sum(1 for e in it if e.name.startswith("img_") and e.name.endswith(".jpg"))

    # ------------------------------------------------------------------ fold lists
    def read_fold_list(self, db: str, kind: str, split: int | None, check: bool = True) -> list[VideoEntry]:
        """Read a fold list; with ``check`` every listed video must have exactly ``nframes`` frames on disk.

        ``split`` falls back to the split-less file when the split's file is absent (DIEM
        has one standard split used for every split, paper Table 6). Raises
        :class:`LayoutError` naming the fold list and line for a missing video folder or
        a frame-count mismatch.
        """
        path = self.resolve_fold_list(db, kind, split)
        entries = read_fold_list_file(path)
        if check:
            for number, entry in enumerate(entries, 1):
                self.check_video(db, entry, where=f"{path} (entry {number}, {entry.name!r})")
        return entries

    def check_video(self, db: str, entry: VideoEntry, where: str = "") -> None:
        """Raise :class:`LayoutError` unless the video's frame folder holds exactly ``entry.n_frames`` frames."""
        folder = self.frames_dir(db, entry.name)
        prefix = f"{where}: " if where else ""
        if not folder.is_dir():
            raise LayoutError(f"{prefix}video {entry.name!r} is missing: no frame folder {folder}")
        found = self.count_frames(db, entry.name)
        if found != entry.n_frames:
            raise LayoutError(
                f"{prefix}frame-count mismatch for {entry.name!r}: the fold list says {entry.n_frames}, "
                f"{folder} has {found} img_*.jpg files"
            )

    def write_fold_list(self, db: str, kind: str, split: int | None, entries: Iterable[VideoEntry]) -> Path:
        path = self.fold_list_path(db, kind, split)
        write_fold_list_file(path, entries)
        return path

    # ------------------------------------------------------------------ frames
    def write_frames(self, db: str, video: str, frames: Iterable[np.ndarray], quality: int = 95) -> int:
        """Write uint8 RGB frames as ``img_00001.jpg …``; returns the number written."""
        from PIL import Image

        folder = self.frames_dir(db, video)
        folder.mkdir(parents=True, exist_ok=True)
        count = 0
        for count, frame in enumerate(frames, 1):
            a = np.asarray(frame)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise LayoutError(f"{self.frame_path(db, video, count)}: frames must be uint8 (H,W,3), "
                                  f"got {a.dtype} {a.shape}")
            Image.fromarray(a).save(self.frame_path(db, video, count), quality=quality)
        return count

    def read_frame(self, db: str, video: str, index: int) -> np.ndarray:
        """Frame ``index`` (1-based) as uint8 ``(H, W, 3)`` RGB."""
        from PIL import Image

        path = self.frame_path(db, video, index)
        if not path.is_file():
            raise LayoutError(f"{path}: missing frame")
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise LayoutError(f"{path}: unreadable frame ({exc})") from exc

    # ------------------------------------------------------------------ audio
    def write_audio(self, db: str, video: str, wave: np.ndarray, rate: int) -> Path:
        """Write a SoundNet-scale mono waveform as 16-bit PCM wav (int16 = round(wave * 128), clipped)."""
        from scipy.io import wavfile

        path = self.audio_path(db, video)
        path.parent.mkdir(parents=True, exist_ok=True)
        w = np.asarray(wave, dtype=np.float64)
        if w.ndim != 1:
            raise LayoutError(f"{path}: expected a mono (N,) waveform, got shape {w.shape}")
        pcm = np.clip(np.round(w * 128.0), -32768, 32767).astype(np.int16)
        wavfile.write(str(path), int(rate), pcm)
        return path

    def read_audio(self, db: str, video: str) -> tuple[np.ndarray, int]:
        """The video's wav as float32 mono on the SoundNet scale (int16/128) and its rate.

        Handles 16/32-bit integer, 8-bit unsigned and float wavs; channels are averaged.
        """
        from scipy.io import wavfile

        path = self.audio_path(db, video)
        if not path.is_file():
            raise LayoutError(f"{path}: missing audio file")
        try:
            rate, data = wavfile.read(str(path), mmap=False)
        except (ValueError, OSError) as exc:
            raise LayoutError(f"{path}: unreadable wav ({exc})") from exc
        return _to_soundnet_scale(data, path), int(rate)

    # ------------------------------------------------------------------ maps
    def write_maps(self, db: str, video: str, dense: Iterable[np.ndarray],
                   fixations: Iterable[np.ndarray], quality: int = 95) -> int:
        """Write per-frame dense maps (``eyeMap_%05d.jpg``, values [0,1] -> 0..255) and
        fixation maps (``fixMap_%05d.mat``, key ``eyeMap``, logical). Returns the frame count."""
        from PIL import Image

        (self.annotation_dir(db, video) / "maps").mkdir(parents=True, exist_ok=True)
        count = 0
        for count, (d, f) in enumerate(zip(dense, fixations, strict=True), 1):
            d = np.asarray(d, dtype=np.float64)
            f = np.asarray(f)
            if d.ndim != 2 or f.shape != d.shape:
                raise LayoutError(f"{self.eyemap_path(db, video, count)}: dense {d.shape} and fixation "
                                  f"{f.shape} maps must be 2-D and of the same size")
            gray = np.clip(np.round(d * 255.0), 0, 255).astype(np.uint8)
            Image.fromarray(gray).save(self.eyemap_path(db, video, count), quality=quality)
            _write_mat(self.fixmap_path(db, video, count), {"eyeMap": f.astype(bool)})
        return count

    def read_dense(self, db: str, video: str, index: int) -> np.ndarray:
        """Dense map of frame ``index`` (1-based) as float32 in [0, 1]."""
        from PIL import Image

        path = self.eyemap_path(db, video, index)
        if not path.is_file():
            raise LayoutError(f"{path}: missing eyeMap (dense saliency map of frame {index} of {db}/{video})")
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255.0)
        except OSError as exc:
            raise LayoutError(f"{path}: unreadable eyeMap ({exc})") from exc

    def read_fixations(self, db: str, video: str, index: int) -> np.ndarray:
        """Fixation map of frame ``index`` (1-based) as a bool array (``fixMap_%05d.mat``, key ``eyeMap``)."""
        from scipy.io import loadmat

        path = self.fixmap_path(db, video, index)
        if not path.is_file():
            raise LayoutError(f"{path}: missing fixation map (frame {index} of {db}/{video})")
        try:
            mat = loadmat(str(path))
        except Exception as exc:  # scipy raises several types for corrupt files
            raise LayoutError(f"{path}: unreadable .mat file ({exc})") from exc
        if "eyeMap" not in mat:
            keys = sorted(k for k in mat if not k.startswith("__"))
            raise LayoutError(f"{path}: no 'eyeMap' variable (found {keys})")
        fix = np.asarray(mat["eyeMap"])
        if fix.ndim != 2:
            raise LayoutError(f"{path}: 'eyeMap' must be 2-D, got shape {fix.shape}")
        return fix > 0


def _to_soundnet_scale(data: np.ndarray, path: Path) -> np.ndarray:
    """Convert wav samples to float32 mono on the SoundNet scale (±256 full scale)."""
    a = np.asarray(data)
    if a.dtype == np.int16:
        x = a.astype(np.float32) / np.float32(128.0)
    elif a.dtype == np.int32:  # 32-bit PCM (or 24-bit left-aligned): int32 * 2**-23, as the official loader
        x = a.astype(np.float32) * np.float32(2.0 ** -23)
    elif a.dtype == np.uint8:
        x = (a.astype(np.float32) - 128.0) * np.float32(2.0)
    elif np.issubdtype(a.dtype, np.floating):
        x = a.astype(np.float32) * np.float32(256.0)
    else:
        raise LayoutError(f"{path}: unsupported wav sample type {a.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by stavis"


def _write_mat(path: Path, variables: dict) -> None:
    """``scipy.io.savemat`` (compressed) with a fixed header text.

    scipy writes the creation time into the 116-byte header; a fixed text keeps files written
    from the same data byte-identical (the synthetic benchmark is reproducible to the byte).
    """
    import io

    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, variables, do_compression=True)
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")
    Path(path).write_bytes(bytes(data))
