"""Step 4 of ``predict_video`` and the files it writes.

* :func:`write_outputs` sends each map, as it arrives, to the maps file, the returned list
  and the overlay video;
* :class:`MapsWriter` streams uint8 maps into a standard ``.npz`` (memory stays flat);
* :func:`overlay_frame` draws a heat map (:func:`jet_colormap`) over a frame;
* :class:`OutputSet` makes the result files of ``python -m stavis_lib predict --out DIR``
  appear as a unit: it takes a lock next to ``DIR``, lets the caller write every new file
  into a private staging folder inside ``DIR``'s parent, and only then replaces the previous
  set in ``DIR``: the old files of the set are removed and the new ones moved in
  (``os.replace``, the same file system), with Ctrl-C held back for those few renames. A run
  that fails or is interrupted before that removes its staging folder and leaves the previous
  set as it was; a second run on the same ``DIR`` while the first holds the lock is refused
  (the lock and staging folder of a run that was killed are cleaned up by the next run).
  Files in ``DIR`` that are not part of the set are never touched, and an output that is the
  same file as an input is refused.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stavis_lib.errors import UserError, os_error_message
from stavis_lib.inference.source import Source

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
# Maps file (streamed .npz) and step 4
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
        """Drop what was written (no ``.npz`` appears)."""
        self._raw.close()
        self._raw_path.unlink(missing_ok=True)


def write_outputs(pairs: Iterator[tuple[Any, np.ndarray]], src: Source, *, writer: MapsWriter | None,
                  kept: list[np.ndarray] | None, overlay_path: str | Path | None, alpha: float,
                  replay: Iterator[Any] | None = None) -> None:
    """Step 4 of ``predict_video``: each ``(frame, map)`` pair's map to the maps file (``writer``),
    the returned list (``kept``) and the overlay video (heat map with opacity ``alpha`` at
    saliency 1, each frame at its own time, ``src``'s overlay sound), as the pairs arrive.

    The overlay takes each frame from its pair, or, when ``replay`` is given (frames too large
    to hold while their maps are computed), from a second decoding of the file in step with the maps.
    """
    from stavis_lib.data import media

    recorded = _recorded(pairs, writer, kept)
    if overlay_path is None:
        for _ in recorded:
            pass
        return
    Path(overlay_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        media.write_video(overlay_path, _overlays(recorded, src, alpha, replay), src.fps, audio=src.overlay_audio)
    finally:
        if replay is not None:
            replay.close()  # stops the second decoder


def _recorded(pairs: Iterator[tuple[Any, np.ndarray]], writer: MapsWriter | None,
              kept: list[np.ndarray] | None) -> Iterator[tuple[Any, np.ndarray]]:
    """The pairs, each map appended to ``kept`` and added to ``writer`` (where given) on its way."""
    for frame, saliency in pairs:
        if kept is not None:
            kept.append(saliency)
        if writer is not None:
            writer.add(saliency)
        yield frame, saliency


def _overlays(pairs: Iterator[tuple[Any, np.ndarray]], src: Source, alpha: float,
              replay: Iterator[Any] | None) -> Iterator[Any]:
    """The overlay video's frames (``media.TimedFrame``): each map, at the frame's size, over its frame."""
    from stavis_lib.data import media

    for frame, saliency in pairs:
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


# ----------------------------------------------------------------------------------------
# The output set of the command line (lock, staging, atomic swap)
# ----------------------------------------------------------------------------------------


class OutputError(UserError, RuntimeError):
    """The output folder cannot take the results (a file, read-only, full, locked, the input)."""


class OutputSet:
    """Files ``names`` in folder ``out``, replaced together.

    Use as a context manager: ``with OutputSet(out, names, option="--out") as outputs:`` write
    into ``outputs.stage / name``, then call ``outputs.commit()``. Leaving the block without
    a commit (an error, Ctrl-C) discards the staged files.
    """

    def __init__(self, out: str | os.PathLike, names: Iterable[str], option: str = "--out",
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
        self.out = Path(out)
        self.names = tuple(names)
        self.option = option
        self.parent = self.out.resolve().parent
        self.lock = self.parent / f".{self.out.resolve().name}.lock"
        self.stage: Path | None = None
        self._check(inputs)

    def _check(self, inputs: Iterable[str | os.PathLike]) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise OutputError(f"{self.option} {self.out}: is a file, not a folder")
        for given in inputs:
            source = Path(given)
            for name in self.names:
                target = self.out / name
                if _same_file(source, target):
                    raise OutputError(f"{self.option} {self.out}: would overwrite the input {source} with "
                                      f"{name}; choose another output folder")

    def __enter__(self) -> OutputSet:
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except OSError as exc:
            raise OutputError(f"{self.option} {self.out}: cannot write there ({os_error_message(exc)})") from exc
        try:
            self.stage = Path(tempfile.mkdtemp(prefix=f".{self.out.resolve().name}.", suffix=".partial",
                                               dir=self.parent))
        except OSError as exc:
            self.lock.unlink(missing_ok=True)
            raise OutputError(f"{self.option} {self.out}: cannot write there ({os_error_message(exc)})") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        self.lock.unlink(missing_ok=True)

    def _take_lock(self) -> None:
        """Create the lock file (exclusively); a lock left by a process that no longer runs is taken over."""
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _lock_owner(self.lock)
                if owner is not None and _running(owner):
                    raise OutputError(f"{self.option} {self.out}: another run (process {owner}) is writing there; "
                                      f"wait for it to finish or choose another output folder") from None
                self.lock.unlink(missing_ok=True)  # stale: its process is gone, and so is its staging folder
                for stale in self.parent.glob(f".{self.out.resolve().name}.*.partial"):
                    shutil.rmtree(stale, ignore_errors=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            return
        raise OutputError(f"{self.option} {self.out}: cannot take the lock {self.lock}")

    def path(self, name: str) -> Path:
        """Where to write ``name`` before :meth:`commit`."""
        assert self.stage is not None, "OutputSet used outside its with-block"
        return self.stage / name

    def commit(self) -> list[Path]:
        """Replace the previous set by the staged files; returns the files now in ``out``."""
        assert self.stage is not None, "OutputSet used outside its with-block"
        written = [name for name in self.names if (self.stage / name).is_file()]
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            with _sigint_held():
                for name in self.names:  # the old set goes first: no stale file outlives the swap
                    (self.out / name).unlink(missing_ok=True)
                for name in written:
                    os.replace(self.stage / name, self.out / name)
        except OSError as exc:
            raise OutputError(f"{self.option} {self.out}: cannot write there ({os_error_message(exc)})") from exc
        return [self.out / name for name in written]


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Defer Ctrl-C (SIGINT) until the block is done (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
