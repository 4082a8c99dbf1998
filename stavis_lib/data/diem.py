"""Raw DIEM gaze files -> ground-truth maps in the release layout, and the human baseline.

DIEM (Mital, Smith, Hill, Henderson 2011; STAViS §4 "DIEM") ships one text file per participant
and video, e.g. ``diem5s01.asc_15_arctic_bears_1066x710.txt``, in a folder named after the video
(``arctic_bears_1066x710``: name and frame size). Each row is one video frame, tab-separated::

    frame  Lx  Ly  Lpupil  Levent  Rx  Ry  Rpupil  Revent

with 1-based frame numbers, coordinates in video pixels (origin top-left) and event codes
-1 lost, 0 blink, 1 fixation, 2 saccade per eye.

Which samples count as fixations (``eyes="both"``, the default)
-------------------------------------------------------------
* A sample is dropped when **either** eye reports a saccade (2) or a blink (0). In the DIEM files
  the right-eye event column never reports saccades (arctic_bears: 0 of 136,465 rows; the right eye
  moves > 50 px per frame while the left eye reports a saccade), so the left eye's saccade flag must
  veto; around blinks the positions jump by hundreds of pixels per frame.
* When both eyes fixate (1), the gaze point is the **mean of the two eyes** (they differ by ~50 px
  on average in arctic_bears, mostly vertically).
* When one eye fixates and the other is lost (-1), the fixating eye is used.
``eyes="left"`` / ``"right"`` use one eye's fixation samples only.

Fixations are placed on the pixel grid with :func:`stavis_lib.data.maps.fixation_map` (pixel
``(floor(y), floor(x))``; points outside the frame are dropped). Dense maps use a Gaussian of
``sigma`` pixels; the default is ``DEFAULT_SIGMA_FRACTION x width`` = 0.03 x width (32 px at
1066 px width, about one degree of visual angle for DIEM's display of roughly 30-35 px/degree).

Human baseline (leave-one-viewer-out NSS)
-----------------------------------------
For frame ``t`` and each viewer ``v`` with a fixation at ``t``, the *other* viewers' fixations give
a dense map ``D_{-v}`` (same sigma); viewer ``v`` is scored with NSS (the map standardised to zero
mean and unit standard deviation, population std over all pixels, read at ``v``'s fixated pixel).
The frame's value is the mean over its viewers; frames with fewer than two fixating viewers get NaN.
The reported number is the mean over frames. It is computed exactly (no truncation, no map
rendering) from separable Gaussian sums: ``mean``, ``std`` and point values of ``D_{-v}`` follow
from the 1-D Gram matrices of the fixated rows and columns.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from stavis_lib.data.maps import (
    dense_map,
    fixation_map,
    fixation_pixels,
    gaze_path,
    sigma_from_width_fraction,
    write_gaze_npz,
)
from stavis_lib.errors import UserError
from stavis_lib.progress import progress_bar

__all__ = [
    "DB_NAME",
    "DEFAULT_SIGMA_FRACTION",
    "DiemFormatError",
    "DiemGaze",
    "parse_video_name",
    "read_diem_file",
    "combine_eyes",
    "load_diem_gaze",
    "leave_one_out_nss",
    "leave_one_out_nss_xy",
    "diem_frame_count",
    "import_diem",
    "ImportResult",
    "main",
]

DB_NAME = "DIEM"
DEFAULT_SIGMA_FRACTION = 0.03
N_COLUMNS = 9
EVENT_LOST, EVENT_BLINK, EVENT_FIXATION, EVENT_SACCADE = -1, 0, 1, 2
#: Sanity bounds: a frame side and a frame number beyond these are typos (DIEM videos are at most
#: 1280 px wide and a few minutes long at 30 fps), refused before any array is allocated.
MAX_SIDE = 8192
MAX_FRAMES = 200_000
#: Largest jump between the frame numbers of consecutive rows of one file (DIEM files have one row
#: per frame, so a jump of thousands is a typo in a frame number).
MAX_FRAME_GAP = 1000
_NAME_RE = re.compile(r"^(?P<name>.+_(?P<w>\d+)x(?P<h>\d+))$")
_FILE_RE = re.compile(r"^(?P<subject>[^.]+)\.asc_\d+_(?P<video>.+_\d+x\d+)\.txt$")


class DiemFormatError(UserError, ValueError):
    """A DIEM gaze file or folder is malformed; the message names the file (and line)."""


@dataclass
class DiemGaze:
    """Per-viewer fixation gaze of one video: ``x, y`` ``(viewers, frames)`` float32, NaN off-fixation."""

    video: str
    width: int
    height: int
    viewers: list[str]
    x: np.ndarray
    y: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.x.shape[1])

    def points(self, index: int) -> np.ndarray:
        """``(viewers, 2)`` gaze points ``x, y`` of frame ``index`` (0-based), NaN where not fixating."""
        return np.stack([self.x[:, index], self.y[:, index]], axis=1)

    def fixations(self, index: int) -> np.ndarray:
        """Fixation map ``Y_fix`` of frame ``index`` (0-based)."""
        return fixation_map(self.points(index), self.height, self.width)


def parse_video_name(path: str | os.PathLike) -> tuple[str, int, int]:
    """``(video, width, height)`` from a DIEM folder or file name such as ``arctic_bears_1066x710``."""
    name = Path(path).name
    m = _FILE_RE.match(name)
    if m:
        name = m.group("video")
    m = _NAME_RE.match(name)
    if not m:
        raise DiemFormatError(f"{path}: cannot read the video size from the name (expected '<video>_<W>x<H>')")
    width, height = int(m.group("w")), int(m.group("h"))
    _check_size(width, height, f"{path}: the size in the name")
    return m.group("name"), width, height


def _check_size(width: int, height: int, what: str) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise DiemFormatError(f"{what} is {width}x{height}; expected 1..{MAX_SIDE} pixels per side")


def read_diem_file(path: str | os.PathLike) -> np.ndarray:
    """Parse one DIEM gaze file into a float64 ``(rows, 9)`` array (columns as in the module docstring).

    Blank lines are skipped; CRLF line ends are accepted. Raises :class:`DiemFormatError` naming the
    file and line for a row without 9 numeric fields, a frame number that is not a positive integer,
    does not increase, exceeds :data:`MAX_FRAMES` or jumps by more than :data:`MAX_FRAME_GAP`, or an
    event code outside -1..2.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as exc:
        raise DiemFormatError(f"{p}: not a text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DiemFormatError(f"{p}: cannot read ({exc.strerror})") from None
    rows: list[list[float]] = []
    last_frame = 0
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{p} line {number}"
        if len(fields) != N_COLUMNS:
            raise DiemFormatError(f"{where}: expected {N_COLUMNS} fields (frame Lx Ly Lpupil Levent Rx Ry Rpupil "
                                  f"Revent), got {len(fields)}: {line.strip()!r}")
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise DiemFormatError(f"{where}: non-numeric field in {line.strip()!r}") from None
        frame = values[0]
        if not np.isfinite(frame) or frame != int(frame) or frame < 1:
            raise DiemFormatError(f"{where}: frame number must be a positive integer, got {fields[0]!r}")
        if frame <= last_frame:
            raise DiemFormatError(f"{where}: frame {int(frame)} does not increase (previous {last_frame})")
        if frame > MAX_FRAMES or frame - last_frame > MAX_FRAME_GAP:
            raise DiemFormatError(f"{where}: frame {int(frame)} after frame {last_frame} is past the sanity bounds "
                                  f"(frame <= {MAX_FRAMES}, jump <= {MAX_FRAME_GAP}); a typo in the frame number?")
        for col in (4, 8):
            if values[col] not in (EVENT_LOST, EVENT_BLINK, EVENT_FIXATION, EVENT_SACCADE):
                raise DiemFormatError(f"{where}: event code must be -1, 0, 1 or 2, got {fields[col]!r}")
        last_frame = int(frame)
        rows.append(values)
    if not rows:
        raise DiemFormatError(f"{p}: no gaze rows")
    return np.asarray(rows, dtype=np.float64)


def combine_eyes(rows: np.ndarray, eyes: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """Fixation gaze ``x, y`` per row (NaN when not fixating) from parsed rows (module docstring rules)."""
    lx, ly, lev = rows[:, 1], rows[:, 2], rows[:, 4]
    rx, ry, rev = rows[:, 5], rows[:, 6], rows[:, 8]
    x = np.full(len(rows), np.nan)
    y = np.full(len(rows), np.nan)
    if eyes == "left":
        ok = lev == EVENT_FIXATION
        x[ok], y[ok] = lx[ok], ly[ok]
    elif eyes == "right":
        ok = rev == EVENT_FIXATION
        x[ok], y[ok] = rx[ok], ry[ok]
    elif eyes == "both":
        veto = np.isin(lev, (EVENT_BLINK, EVENT_SACCADE)) | np.isin(rev, (EVENT_BLINK, EVENT_SACCADE))
        both = (lev == EVENT_FIXATION) & (rev == EVENT_FIXATION)
        left = (lev == EVENT_FIXATION) & (rev == EVENT_LOST) & ~veto
        right = (rev == EVENT_FIXATION) & (lev == EVENT_LOST) & ~veto
        x[both], y[both] = (lx[both] + rx[both]) / 2, (ly[both] + ry[both]) / 2
        x[left], y[left] = lx[left], ly[left]
        x[right], y[right] = rx[right], ry[right]
    else:
        raise ValueError(f"eyes must be 'both', 'left' or 'right'; got {eyes!r}")
    return x, y


def _gaze_files(gaze_dir: Path) -> list[Path]:
    if not gaze_dir.is_dir():
        raise DiemFormatError(f"{gaze_dir}: DIEM gaze folder not found")
    files = sorted(p for p in gaze_dir.iterdir() if p.is_file() and p.suffix == ".txt")
    if not files:
        raise DiemFormatError(f"{gaze_dir}: no DIEM gaze files (*.txt)")
    return files


def load_diem_gaze(gaze_dir: str | os.PathLike, size: tuple[int, int] | None = None,
                   n_frames: int | None = None, eyes: str = "both") -> DiemGaze:
    """Read every viewer file of a DIEM video folder.

    Args:
        gaze_dir: folder such as ``diem_gaze/arctic_bears_1066x710`` with one ``.txt`` per viewer.
        size: ``(width, height)``; default parsed from the folder name.
        n_frames: frames to keep; default the largest frame number found in the files. Rows past it
            are ignored; frames without a row are NaN (no fixation).
        eyes: ``"both"`` (default), ``"left"`` or ``"right"`` (see the module docstring).
    """
    folder = Path(gaze_dir)
    files = _gaze_files(folder)
    video, width, height = parse_video_name(folder)
    if size is not None:
        width, height = (int(v) for v in size)
        _check_size(width, height, f"{folder}: the given size")
    if n_frames is not None and not 1 <= int(n_frames) <= MAX_FRAMES:
        raise DiemFormatError(f"{folder}: the given frame count {n_frames} is outside 1..{MAX_FRAMES}")
    parsed = [read_diem_file(f) for f in files]
    total = int(max(r[-1, 0] for r in parsed)) if n_frames is None else int(n_frames)
    xs = np.full((len(files), total), np.nan, dtype=np.float32)
    ys = np.full((len(files), total), np.nan, dtype=np.float32)
    for i, rows in enumerate(parsed):
        x, y = combine_eyes(rows, eyes)
        idx = rows[:, 0].astype(np.int64) - 1
        keep = idx < total
        xs[i, idx[keep]], ys[i, idx[keep]] = x[keep], y[keep]
    viewers = [(_FILE_RE.match(f.name).group("subject") if _FILE_RE.match(f.name) else f.stem) for f in files]
    return DiemGaze(video, width, height, viewers, xs, ys)


def diem_frame_count(gaze_dir: str | os.PathLike) -> int:
    """The video's frame count implied by the gaze files: the largest frame number in any file."""
    return int(max(read_diem_file(f)[-1, 0] for f in _gaze_files(Path(gaze_dir))))


# ------------------------------------------------------------------------- leave-one-out NSS

class _AxisSums:
    """Exact 1-D Gaussian sums over a pixel axis of ``length`` for integer centres (no BLAS, no truncation).

    ``single[p] = sum_r a_p(r)`` and ``pair[p + q] = sum_r exp(-(r - (p + q) / 2)^2 / sigma^2)`` so that
    ``sum_r a_p(r) a_q(r) = exp(-(p - q)^2 / (4 sigma^2)) * pair[p + q]`` with
    ``a_p(r) = exp(-(r - p)^2 / (2 sigma^2))``.
    """

    def __init__(self, length: int, sigma: float):
        r = np.arange(length, dtype=np.float64)
        self.sigma = float(sigma)
        self.single = np.exp(-0.5 * ((r[None, :] - r[:, None]) / sigma) ** 2).sum(1)
        half = np.arange(2 * length - 1, dtype=np.float64) / 2.0
        self.pair = np.exp(-(((r[None, :] - half[:, None]) / sigma) ** 2)).sum(1)

    def gram(self, p: np.ndarray) -> np.ndarray:
        d = p[:, None] - p[None, :]
        return np.exp(-(d * d) / (4 * self.sigma**2)) * self.pair[p[:, None] + p[None, :]]

    def profile_at(self, p: np.ndarray) -> np.ndarray:
        """``[i, j] = a_{p_j}(p_i)``."""
        d = (p[:, None] - p[None, :]) / self.sigma
        return np.exp(-0.5 * d * d)


def _loo_nss_frame(pixels: np.ndarray, rows: _AxisSums, cols: _AxisSums) -> np.ndarray:
    """Leave-one-out NSS of each viewer of one frame from its fixated pixels ``(V, 2)`` (row, col).

    With unique fixated pixels ``u`` (multiplicity ``m_u``) the others' dense map of viewer ``v`` at
    pixel ``u_v`` is ``sum_u g_u - [m_{u_v} = 1] g_{u_v}`` with separable ``g_u(r, c) = a_u(r) b_u(c)``,
    so its sum, sum of squares and value at ``u_v`` follow from 1-D sums and Gram matrices.
    """
    uniq, inverse, counts = np.unique(pixels, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    gram = rows.gram(uniq[:, 0]) * cols.gram(uniq[:, 1])  # <g_i, g_j>
    sums = rows.single[uniq[:, 0]] * cols.single[uniq[:, 1]]  # sum over pixels of g_i
    at_points = rows.profile_at(uniq[:, 0]) * cols.profile_at(uniq[:, 1])  # [i, j] = g_j(u_i)
    own = (counts[inverse] == 1).astype(np.float64)  # drop the left-out viewer's pixel from the map
    u = inverse
    value = at_points[u].sum(1) - own * at_points[u, u]
    total = sums.sum() - own * sums[u]
    square = gram.sum() - own * (2 * gram[u].sum(1) - gram[u, u])
    n_pix = float(len(rows.single) * len(cols.single))
    mean = total / n_pix
    var = square / n_pix - mean**2
    with np.errstate(invalid="ignore", divide="ignore"):
        nss = (value - mean) / np.sqrt(var)
    nss[~(var > 1e-12 * square / n_pix)] = np.nan  # the others have no fixation
    return nss


def leave_one_out_nss_xy(x: np.ndarray, y: np.ndarray, height: int, width: int, sigma: float) -> np.ndarray:
    """Per-frame leave-one-viewer-out NSS ``(frames,)`` of gaze ``x, y`` ``(viewers, frames)`` (NaN: no fixation).

    Frames with fewer than two fixating viewers give NaN. Works for any per-viewer gaze (DIEM or the
    synthetic benchmark's ``gaze/<db>/<video>.npz``).
    """
    rows, cols = _AxisSums(height, sigma), _AxisSums(width, sigma)
    xs, ys = np.asarray(x), np.asarray(y)
    out = np.full(xs.shape[1], np.nan)
    for t in range(xs.shape[1]):
        pixels = fixation_pixels(np.stack([xs[:, t], ys[:, t]], axis=1), height, width)
        if len(pixels) < 2:
            continue
        scores = _loo_nss_frame(pixels, rows, cols)
        if np.isfinite(scores).any():
            out[t] = np.nanmean(scores)
    return out


def leave_one_out_nss(gaze: DiemGaze, sigma: float) -> np.ndarray:
    """Per-frame human baseline ``(frames,)``: mean leave-one-viewer-out NSS (NaN: < 2 viewers)."""
    return leave_one_out_nss_xy(gaze.x, gaze.y, gaze.height, gaze.width, sigma)


# ------------------------------------------------------------------------------------ import

@dataclass
class ImportResult:
    """What :func:`import_diem` wrote and measured."""

    video: str
    n_frames: int
    width: int
    height: int
    n_viewers: int
    sigma: float
    loo_nss: np.ndarray  # (frames,) per-frame leave-one-out NSS, NaN where undefined
    root: Path

    @property
    def mean_loo_nss(self) -> float:
        """Mean over frames with a value (NaN when no frame has two fixating viewers)."""
        finite = self.loo_nss[np.isfinite(self.loo_nss)]
        return float(finite.mean()) if finite.size else float("nan")


def import_diem(gaze_dir: str | os.PathLike, out_dir: str | os.PathLike, size: tuple[int, int] | None = None,
                n_frames: int | None = None, sigma: float | None = None, eyes: str = "both", db: str = DB_NAME,
                quality: int = 95, progress: bool = True) -> ImportResult:
    """Write fixation and dense maps of one DIEM video in the release layout, plus gaze and baseline.

    Writes ``annotations/<db>/<video>/maps/eyeMap_%05d.jpg`` and ``fixMap_%05d.mat`` for every frame,
    and ``gaze/<db>/<video>.npz`` (``x, y`` per viewer, ``viewers``, ``size``, ``sigma``, ``loo_nss``).
    ``sigma`` is in pixels (default ``0.03 x width``).
    """
    from stavis_lib.data.layout import ReleaseLayout

    gaze = load_diem_gaze(gaze_dir, size=size, n_frames=n_frames, eyes=eyes)
    sig = float(sigma) if sigma is not None else sigma_from_width_fraction(DEFAULT_SIGMA_FRACTION, gaze.width)
    root = Path(out_dir)
    layout = ReleaseLayout(root)
    bar = progress_bar(enabled=progress, total=gaze.n_frames, desc=f"{gaze.video} maps", unit="frame")

    def fixations() -> Iterator[np.ndarray]:
        for t in range(gaze.n_frames):
            bar.update(1)
            yield gaze.fixations(t)

    dense = (dense_map(gaze.fixations(t), sig) for t in range(gaze.n_frames))
    with bar:
        layout.write_maps(db, gaze.video, dense, fixations(), quality=quality)
    loo = leave_one_out_nss(gaze, sig)
    write_gaze_npz(
        gaze_path(root, db, gaze.video), gaze.x, gaze.y,
        viewers=np.array(gaze.viewers), size=np.array([gaze.width, gaze.height], dtype=np.int64),
        sigma=np.float64(sig), loo_nss=loo,
    )
    return ImportResult(gaze.video, gaze.n_frames, gaze.width, gaze.height, len(gaze.viewers), sig, loo, root)
