"""Saliency maps saved by any model, scored with the evaluation protocol of a STAViS checkpoint.

:class:`SavedPredictions` takes the place of the network in :func:`~stavis_lib.evaluate.evaluate_split`
(or :func:`evaluate_predictions`): each test video's maps are read from a folder instead of
predicted, then scored by the same code as the model's maps (post-processing, sAUC negatives,
per-video -> per-dataset -> overall averaging, reference lines, tables and plots).

Forms, per video ``<video>`` of dataset ``<db>`` under the predictions folder ``DIR``:

* ``jpg``: ``DIR/<db>/<video>/pred_sal_%06d.jpg``, one grayscale image per frame, numbered by the
  frame it predicts, 1-based (frame 1 of the video = ``pred_sal_000001.jpg``): the names the
  official test code writes, and ``evaluate --save-jpg``;
* ``npz``: ``DIR/<db>/<video>.npz`` (``evaluate --save-npz``) or ``DIR/<db>/<video>/maps.npz``
  (``predict``'s file) with ``maps`` (T,H,W) and optionally ``frames`` (T,) the 1-based frame
  numbers of the maps (without it map i is frame i + 1);
* ``mp4``: ``DIR/<db>/<video>.mp4``, a grayscale video of maps; decoded frame i is frame i + 1.

``fmt="auto"`` takes, per video, the first of npz, jpg and mp4 that exists.

Reading rules:

* Values: uint8 maps are divided by 255, other numbers taken as they are; each map is then
  min-max normalised per frame, as the checkpoint path's maps are (a constant map becomes zeros).
  Colour images or videos (channels that differ) are rejected: a colour-mapped heat map is not a
  saliency value. Non-finite values are rejected.
* Size: any, the same for every map of a video; the post-processing resizes the maps to the
  ground-truth size (bicubic; bilinear with ``postprocess=False``), as for the model's maps.
* Frames scored: those of the ground truth (1..n, :func:`~stavis_lib.evaluate.truth.load_truth`).
  Maps numbered beyond the video's frame count by at most :data:`OFFICIAL_OVERHANG` are ignored
  (the official test code names its maps up to n + 7); further beyond, or numbered below 1, is an
  error, as is a folder with no map of a scored frame.
* Missing frames (a scored frame without a map, e.g. the official code's frames 1-8):
  ``missing="skip"`` (default) leaves them out of the model's means (NaN scores),
  ``"centre"`` scores the centre-bias map (:func:`~stavis_lib.evaluate.baselines.centre_bias_map`
  at the maps' size, min-max normalised like every map) in their place, ``"error"`` refuses.
  Either way the frames table marks them (column ``missing``), the videos, splits and datasets
  tables count them (``n_missing_frames``) and one :class:`MissingPredictionsWarning` summarises
  the run. The reference lines score every frame.

Bad input raises :class:`~stavis_lib.errors.UserError` naming the file.
"""
from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from stavis_lib import metrics as M
from stavis_lib.errors import UserError
from stavis_lib.evaluate.baselines import centre_bias_map

__all__ = ["PRED_FORMATS", "MISSING_MODES", "OFFICIAL_OVERHANG", "MissingPredictionsWarning", "VideoMaps",
           "SavedPredictions", "missing_summary", "evaluate_predictions"]

#: Forms of saved maps ("auto": per video the first of npz, jpg, mp4 found).
PRED_FORMATS = ("auto", "npz", "jpg", "mp4")
#: What a scored frame without a saved map gets: left out, the centre-bias map, or an error.
MISSING_MODES = ("skip", "centre", "error")
#: The official test code names its maps ``pred_sal_{i+9}`` for clips i = 0..n-2 of an n-frame
#: video, i.e. up to frame n + 7; maps numbered that far beyond the video are ignored.
OFFICIAL_OVERHANG = 7
#: Largest mean |R - G| + |G - B| (grey levels) of a map image read as grayscale (JPEG/H.264
#: chroma noise of a grey picture stays well below it; a colour-mapped heat map does not).
GRAY_TOLERANCE = 6.0
_JPG_NAME = re.compile(r"pred_sal_(\d+)\.jpg")


class MissingPredictionsWarning(UserWarning):
    """Some scored frames have no saved prediction (how they were scored is in the message)."""


@dataclass
class VideoMaps:
    """The maps of one video's scored frames: ``maps`` (n,H,W) float32 per-frame min-max (missing
    frames filled with the centre-bias map), ``missing`` (n,) bool, read from ``source``."""

    maps: np.ndarray
    missing: np.ndarray
    source: Path


def _gray(image: np.ndarray, source: Path) -> np.ndarray:
    """(H,W) map of an (H,W) or (H,W,C) picture; colour pictures are refused."""
    a = np.asarray(image)
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        if a.shape[2] == 1:
            return a[..., 0]
        rgb = a[..., :3].astype(np.float64)
        spread = np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()
        if spread > GRAY_TOLERANCE:
            raise UserError(f"{source}: colour map (mean channel difference {spread:.1f} grey levels): "
                            "save saliency maps as grayscale values, not a colour-mapped picture")
        return rgb.mean(2)
    raise UserError(f"{source}: expected a grayscale map, got an array of shape {a.shape}")


def _as_float(maps: np.ndarray, source: Path) -> np.ndarray:
    """uint8 -> /255, other numbers as they are; non-finite values refused."""
    if maps.dtype == np.uint8:
        return maps.astype(np.float32) / 255.0
    if maps.dtype.kind not in "biuf":
        raise UserError(f"{source}: maps of type {maps.dtype} (expected numbers)")
    out = maps.astype(np.float32)
    if not np.isfinite(out).all():
        raise UserError(f"{source}: maps contain non-finite values (NaN or inf)")
    return out


def _minmax(x: np.ndarray) -> np.ndarray:
    """Min-max to [0,1] (a constant map becomes zeros)."""
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _read_jpgs(folder: Path, wanted: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Every ``pred_sal_N.jpg`` number of ``folder``, and the maps of those <= ``wanted``."""
    from PIL import Image

    numbered = {}
    for p in folder.iterdir():
        m = _JPG_NAME.fullmatch(p.name)
        if m:
            numbered[int(m.group(1))] = p
    maps = {}
    for f in sorted(k for k in numbered if 1 <= k <= wanted):
        try:
            with Image.open(numbered[f]) as im:
                maps[f] = _gray(np.asarray(im), numbered[f])
        except OSError as exc:
            raise UserError(f"{numbered[f]}: cannot read the map image ({exc})") from None
    return np.array(sorted(numbered), dtype=np.int64), maps


def _read_npz(path: Path, wanted: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``maps`` (T,H,W) and optional ``frames`` (T,) of an npz file."""
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise UserError(f"{path}: a single array, not an npz file with an array 'maps'")
        with z:
            if "maps" not in z.files:
                raise UserError(f"{path}: no array 'maps' (has {', '.join(z.files) or 'nothing'})")
            maps = np.asarray(z["maps"])
            frames = np.asarray(z["frames"]) if "frames" in z.files else None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: cannot read the npz file ({exc})") from None
    if maps.ndim not in (3, 4):
        raise UserError(f"{path}: 'maps' has shape {maps.shape}, expected (frames, H, W)")
    if frames is None:
        frames = np.arange(1, len(maps) + 1)
    if frames.shape != (len(maps),) or frames.dtype.kind not in "iu":
        raise UserError(f"{path}: 'frames' must hold one integer frame number per map "
                        f"({len(maps)}), got shape {frames.shape} {frames.dtype}")
    if len(np.unique(frames)) != len(frames):
        raise UserError(f"{path}: 'frames' numbers a frame twice")
    keep = {int(f): _gray(m, path) for f, m in zip(frames, maps) if 1 <= f <= wanted}
    return frames.astype(np.int64), keep


def _read_mp4(path: Path, wanted: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Decoded frame i of a grayscale video of maps -> frame i + 1."""
    from stavis_lib.data.media import iter_frames

    maps, count = {}, 0
    for count, image in enumerate(iter_frames(path), start=1):
        if count <= wanted:
            maps[count] = _gray(image, path)
    return np.arange(1, count + 1), maps


#: form -> reader(path, last frame wanted) -> (every frame number present, {number: (H,W) map})
READERS: dict[str, Callable[[Path, int], tuple[np.ndarray, dict[int, np.ndarray]]]] = {
    "jpg": _read_jpgs, "npz": _read_npz, "mp4": _read_mp4}


def _ranges(numbers: Iterable[int]) -> str:
    """1, 2, 3, 7 -> "1-3, 7"."""
    out: list[list[int]] = []
    for f in sorted(numbers):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in out)


@dataclass
class SavedPredictions:
    """Maps saved under ``root`` (module docstring: forms, numbering, reading rules), in place
    of a network: ``evaluate_split(root, ..., model=SavedPredictions("preds"))``.

    ``fmt``: one of :data:`PRED_FORMATS`; ``missing``: one of :data:`MISSING_MODES`;
    ``centre_sigma``: the centre-bias map of ``missing="centre"``.
    """

    root: str | Path
    fmt: str = "auto"
    missing: str = "skip"
    centre_sigma: float = 0.25

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.fmt not in PRED_FORMATS:
            raise UserError(f"predictions format {self.fmt!r}: expected one of {', '.join(PRED_FORMATS)}")
        if self.missing not in MISSING_MODES:
            raise UserError(f"missing={self.missing!r}: expected one of {', '.join(MISSING_MODES)}")
        if not self.root.is_dir():
            raise UserError(f"{self.root}: predictions folder not found")

    def candidates(self, db: str, video: str) -> dict[str, Path]:
        """Where each form of the maps of ``db/video`` would be."""
        base = self.root / db
        npz = base / f"{video}.npz"
        if not npz.is_file() and (base / video / "maps.npz").is_file():
            npz = base / video / "maps.npz"
        return {"npz": npz, "jpg": base / video, "mp4": base / f"{video}.mp4"}

    def locate(self, db: str, video: str) -> tuple[str, Path]:
        """(form, path) of the maps of ``db/video``; :class:`UserError` when there are none."""
        paths = self.candidates(db, video)
        forms = [self.fmt] if self.fmt != "auto" else ["npz", "jpg", "mp4"]
        for form in forms:
            p = paths[form]
            if form == "jpg":
                found = p.is_dir() and any(_JPG_NAME.fullmatch(q.name) for q in p.iterdir())
            else:
                found = p.is_file()
            if found:
                return form, p
        expected = {"npz": f"{video}.npz, {video}/maps.npz", "jpg": f"{video}/pred_sal_%06d.jpg", "mp4": f"{video}.mp4"}
        raise UserError(f"{self.root / db}: no predictions for video {video!r} "
                        f"(looked for {', '.join(expected[f] for f in forms)})")

    def check(self, db: str, entries: Sequence[Any]) -> None:
        """Raise :class:`UserError` for the first video of ``entries`` without maps (before any work)."""
        for entry in entries:
            self.locate(db, entry.name)

    def read(self, db: str, entry: Any, n: int) -> VideoMaps:
        """The maps of frames 1..n of one test video (``entry``: its fold-list line)."""
        form, path = self.locate(db, entry.name)
        numbers, maps = READERS[form](path, n)
        if len(numbers) and numbers.min() < 1:
            raise UserError(f"{path}: a map is numbered {numbers.min()}: frames are numbered from 1 "
                            "(pred_sal_000001.jpg = frame 1)")
        if len(numbers) and numbers.max() > entry.n_frames + OFFICIAL_OVERHANG:
            raise UserError(f"{path}: maps numbered up to {numbers.max()}, but {db}/{entry.name} has "
                            f"{entry.n_frames} frames (more than {OFFICIAL_OVERHANG} beyond its end: "
                            "another video's maps?)")
        if not maps:
            raise UserError(f"{path}: no map of frames 1-{n} of {db}/{entry.name}")
        return self._assemble(maps, n, path)

    def _assemble(self, maps: dict[int, np.ndarray], n: int, path: Path) -> VideoMaps:
        """(n,H,W) min-max maps with the missing frames filled (or refused)."""
        size = next(iter(maps.values())).shape
        for f, m in maps.items():
            if m.shape != size:
                raise UserError(f"{path}: the map of frame {f} is {m.shape[0]}x{m.shape[1]}, the first map "
                                f"is {size[0]}x{size[1]} (one size per video)")
        missing = np.array([f not in maps for f in range(1, n + 1)])
        if missing.any() and self.missing == "error":
            raise UserError(f"{path}: no map for frames {_ranges(np.flatnonzero(missing) + 1)} "
                            f"(of 1-{n}; --missing skip or centre scores without them)")
        out = np.empty((n, *size), np.float32)
        out[missing] = _minmax(centre_bias_map(size, self.centre_sigma))
        for f, m in maps.items():
            out[f - 1] = _minmax(_as_float(m, path))
        return VideoMaps(out, missing, path)

    def mark(self, frames: pd.DataFrame, name: str, video: VideoMaps) -> pd.DataFrame:
        """Add the ``missing`` column to one video's per-frame table; "skip" blanks their scores."""
        rows = (frames["method"] == name) & frames["frame"].isin(np.flatnonzero(video.missing) + 1)
        frames = frames.assign(missing=rows.to_numpy())
        if self.missing == "skip":
            frames.loc[rows, [k for k in M.METRICS if k in frames.columns]] = np.nan
        return frames


def missing_summary(frames: pd.DataFrame, mode: str) -> str | None:
    """One line on the scored frames without a saved map (None when every frame had one)."""
    if "missing" not in frames.columns or not frames["missing"].any():
        return None
    model = frames[frames.groupby("method")["missing"].transform("any")]
    per_video = model.groupby(["dataset", "split", "video"], sort=False)["missing"]
    counts = per_video.sum()
    first = counts[counts > 0].index[0]
    first_frames = model.set_index(["dataset", "split", "video"]).loc[first]
    how = {"skip": "left out of the means", "centre": "scored with the centre-bias map"}.get(mode, mode)
    return (f"{int(counts.sum())} of the {len(model)} frames to score in {int((counts > 0).sum())} of {len(counts)} "
            f"videos have no saved prediction ({how}; column n_missing_frames of the videos table), "
            f"e.g. {first[0]}/{first[2]} frames {_ranges(first_frames.loc[first_frames['missing'], 'frame'])}")


def warn_missing(frames: pd.DataFrame, mode: str) -> None:
    """Issue the :class:`MissingPredictionsWarning` of :func:`missing_summary`, if any."""
    line = missing_summary(frames, mode)
    if line is not None:
        warnings.warn(line, MissingPredictionsWarning, stacklevel=3)


def evaluate_predictions(root: str | Path, predictions: str | Path, datasets: str | Sequence[str] = "Synthetic",
                         split: int | Sequence[int | None] | None = 1, *, name: str | None = None,
                         fmt: str = "auto", missing: str = "skip", centre_sigma: float = 0.25, **kw: Any):
    """Score maps saved by any model (``predictions``: the folder, module docstring) on the test
    videos of dataset splits, with the protocol, reference lines and outputs of
    :func:`~stavis_lib.evaluate.evaluate_split` (``**kw``: its options). ``name``: the method's row
    name (default: the folder's name). Returns its :class:`~stavis_lib.evaluate.EvaluationResult`.
    """
    from stavis_lib.evaluate.runner import evaluate_split

    saved = SavedPredictions(predictions, fmt, missing, centre_sigma)
    return evaluate_split(root, datasets, split, saved, name=name or saved.root.resolve().name,
                          centre_sigma=centre_sigma, **kw)
