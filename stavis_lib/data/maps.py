"""Ground-truth maps from fixations (STAViS §3.5, "Y_fix" and "Y_den").

The paper scores and trains against two per-frame maps:

* the *fixation map* ``Y_fix in {0,1}^{H x W}``: one at every pixel that holds a human fixation;
* the *dense map* ``Y_den in [0,1]^{H x W}``: "produced by convolving the binary fixation map with a
  Gaussian kernel" (§3.5), here max-normalised to a peak of 1 as in the official release's eyeMap JPEGs.

Coordinate convention (used throughout the package)
----------------------------------------------------
Gaze points are continuous image coordinates ``(x, y)`` in pixels with the origin at the top-left
*corner* of the top-left pixel: pixel ``(row r, column c)`` covers ``[c, c+1) x [r, r+1)`` and its
centre is ``(c + 0.5, r + 0.5)``. A point therefore falls into pixel ``(floor(y), floor(x))``;
points with ``x < 0``, ``x >= W``, ``y < 0``, ``y >= H`` or a NaN coordinate lie outside the frame
and are dropped.

Resizing a fixation map maps the centre of every fixated pixel to the new grid (pixel centres scale
with the image), so a fixation is never lost; when shrinking, several fixations may merge into one
pixel.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "fixation_map",
    "fixation_pixels",
    "dense_map",
    "gaussian_profile",
    "sigma_from_width_fraction",
    "resize_fixations",
    "resize_dense",
    "gaze_path",
    "write_gaze_npz",
    "read_gaze_npz",
]


def fixation_pixels(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Integer pixel indices ``(row, col)`` of the in-frame gaze points.

    ``points`` is ``(N, 2)`` with columns ``x, y`` (see the module's coordinate convention). Returns an
    ``(M, 2)`` int64 array of ``(row, col)`` with ``M <= N``: NaN and out-of-frame points are dropped,
    duplicates are kept (in input order).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2) holding x, y; got {pts.shape}")
    _check_size(height, width)
    ok = np.isfinite(pts).all(axis=1)
    ok &= (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
    cols = np.floor(pts[ok, 0]).astype(np.int64)
    rows = np.floor(pts[ok, 1]).astype(np.int64)
    return np.stack([rows, cols], axis=1)


def fixation_map(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Binary fixation map ``Y_fix`` (§3.5) of shape ``(height, width)``.

    ``points`` is ``(N, 2)`` holding ``x, y`` in pixels; point ``(x, y)`` marks pixel
    ``(floor(y), floor(x))``. Points outside the frame or with NaN coordinates are dropped.
    """
    fix = np.zeros((int(height), int(width)), dtype=bool)
    px = fixation_pixels(points, height, width)
    fix[px[:, 0], px[:, 1]] = True
    return fix


def gaussian_profile(centres: np.ndarray, length: int, sigma: float) -> np.ndarray:
    """``(length, K)`` matrix ``exp(-(i - centre_k)^2 / (2 sigma^2))`` for grid index ``i``."""
    grid = np.arange(int(length), dtype=np.float64)[:, None]
    diff = grid - np.asarray(centres, dtype=np.float64)[None, :]
    return np.exp(-0.5 * (diff / float(sigma)) ** 2)


def dense_map(fixations: np.ndarray, sigma: float) -> np.ndarray:
    """Dense saliency map ``Y_den`` (§3.5): the fixation map convolved with a Gaussian, max-normalised.

    The convolution is the exact, untruncated 2-D Gaussian ``exp(-d^2 / (2 sigma^2))`` with zero
    padding outside the frame (no mass wraps or reflects). It is evaluated separably on the fixated
    rows and columns only, ``K_rows @ F @ K_cols^T``, which costs ``O(H*R*C + H*C*W)`` for ``R`` fixated
    rows and ``C`` fixated columns — a few milliseconds even at 1066x710 with dozens of viewers.

    Args:
        fixations: ``(H, W)`` array, non-zero where a fixation lies (bool or numbers; values are
            used as weights, so a bool map weighs every fixated pixel once).
        sigma: Gaussian standard deviation in pixels (see :func:`sigma_from_width_fraction`).

    Returns:
        float32 ``(H, W)`` in ``[0, 1]`` with maximum 1, or all zeros when there is no fixation.
    """
    fix = np.asarray(fixations)
    if fix.ndim != 2:
        raise ValueError(f"fixations must be a 2-D (H, W) map; got shape {fix.shape}")
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number of pixels; got {sigma}")
    height, width = fix.shape
    nonzero = fix != 0
    rows = np.flatnonzero(nonzero.any(axis=1))
    cols = np.flatnonzero(nonzero.any(axis=0))
    if rows.size == 0:
        return np.zeros((height, width), dtype=np.float32)
    weights = fix[np.ix_(rows, cols)].astype(np.float64)  # (R, C)
    k_rows = gaussian_profile(rows, height, sigma)  # (H, R)
    k_cols_t = np.ascontiguousarray(gaussian_profile(cols, width, sigma).T, dtype=np.float32)  # (C, W)
    # The large (H, C) x (C, W) product in float32 (values are sums of at most R*C terms in [0, 1]),
    # with einsum's single-threaded loop: multi-threaded BLAS is 5-25x slower for this shape when
    # the cores are busy (measured on 2 shared cores), and maps are made in long per-frame loops.
    left = (k_rows @ weights).astype(np.float32)  # (H, C)
    dense = np.einsum("hc,cw->hw", left, k_cols_t)
    peak = float(dense.max())
    if peak <= 0:  # all weights cancel (only possible with signed weights)
        return np.zeros((height, width), dtype=np.float32)
    dense /= np.float32(peak)  # exact 1 at the peak
    return np.clip(dense, 0.0, 1.0, out=dense)


def sigma_from_width_fraction(fraction: float, width: int) -> float:
    """Gaussian sigma in pixels given as a fraction of the frame width (``fraction * width``)."""
    if fraction <= 0:
        raise ValueError(f"sigma fraction must be positive; got {fraction}")
    return float(fraction) * float(width)


def resize_fixations(fix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a binary fixation map to ``size = (H, W)`` without dropping any fixation.

    The centre ``(c + 0.5, r + 0.5)`` of every fixated pixel is scaled to the new grid and marks pixel
    ``(floor((r + 0.5) * H'/H), floor((c + 0.5) * W'/W))``. Upscaling keeps the number of fixations;
    downscaling may merge fixations that land in the same pixel but never removes the last one of a
    region (the output is non-empty iff the input is).
    """
    src = np.asarray(fix)
    if src.ndim != 2:
        raise ValueError(f"fixation map must be 2-D (H, W); got shape {src.shape}")
    out_h, out_w = (int(s) for s in size)
    _check_size(out_h, out_w)
    in_h, in_w = src.shape
    rows, cols = np.nonzero(src)
    new_rows = np.minimum(np.floor((rows + 0.5) * out_h / in_h).astype(np.int64), out_h - 1)
    new_cols = np.minimum(np.floor((cols + 0.5) * out_w / in_w).astype(np.int64), out_w - 1)
    out = np.zeros((out_h, out_w), dtype=bool)
    out[new_rows, new_cols] = True
    return out


def resize_dense(dense: np.ndarray, size: tuple[int, int], normalize: bool = True) -> np.ndarray:
    """Resize a dense map to ``size = (H, W)`` with (antialiased) bilinear interpolation.

    With ``normalize=True`` (default) the result is max-normalised again so that its peak stays 1
    (shrinking with antialiasing lowers narrow peaks); an all-zero map stays all-zero.
    Returns float32 in ``[0, 1]``.
    """
    src = np.asarray(dense, dtype=np.float32)
    if src.ndim != 2:
        raise ValueError(f"dense map must be 2-D (H, W); got shape {src.shape}")
    out_h, out_w = (int(s) for s in size)
    _check_size(out_h, out_w)
    if src.shape == (out_h, out_w):
        out = src.copy()
    else:
        out = np.asarray(Image.fromarray(src).resize((out_w, out_h), Image.BILINEAR), dtype=np.float32)
    out = np.clip(out, 0.0, None)
    if normalize:
        peak = float(out.max())
        if peak > 0:
            out = out / peak
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _check_size(height: int, width: int) -> None:
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"map size must be positive; got height={height}, width={width}")


# ------------------------------------------------------------------------------------------ gaze

def gaze_path(root: str | os.PathLike, db: str, video: str) -> Path:
    """Where per-viewer gaze of a video lives next to the release layout: ``<root>/gaze/<db>/<video>.npz``."""
    return Path(root) / "gaze" / db / f"{video}.npz"


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_gaze_npz(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, **extra: np.ndarray) -> Path:
    """Write per-viewer gaze as a byte-reproducible ``.npz`` (readable with ``np.load``).

    ``x``, ``y``: ``(viewers, frames)`` float pixel coordinates (module convention), NaN where the
    viewer is not fixating. ``extra`` arrays are stored under their keyword names. Unlike
    ``np.savez_compressed`` the zip entries carry a fixed timestamp, so equal content gives
    identical bytes. Object arrays are refused (the file loads with ``allow_pickle=False``).
    """
    xs = np.asarray(x, dtype=np.float32)
    ys = np.asarray(y, dtype=np.float32)
    if xs.ndim != 2 or xs.shape != ys.shape:
        raise ValueError(f"gaze x and y must both be (viewers, frames); got {xs.shape} and {ys.shape}")
    arrays = {"x": xs, "y": ys, **{k: np.asarray(v) for k, v in extra.items()}}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            if arr.dtype == object:
                raise ValueError(f"{out}: gaze array {key!r} has dtype object; use numbers or fixed-width strings")
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, out)
    return out


def read_gaze_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a gaze file written by :func:`write_gaze_npz`; checks that ``x`` and ``y`` agree in shape."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: gaze file not found")
    with np.load(p, allow_pickle=False) as data:
        out = {k: data[k] for k in data.files}
    if "x" not in out or "y" not in out or out["x"].shape != out["y"].shape or out["x"].ndim != 2:
        raise ValueError(f"{p}: a gaze file needs arrays x and y of equal shape (viewers, frames)")
    return out
