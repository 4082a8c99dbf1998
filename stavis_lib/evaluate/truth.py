"""Ground truth of one test video: fixations, dense maps and per-viewer gaze (release layout).

Frames scored: 1..n with n = the fold list's frame count, capped by the frames and fixation
maps present (like the official MATLAB code, which scores frames <= nframes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["VideoTruth", "load_truth", "load_gaze", "resize_bilinear", "count_files"]


@dataclass
class VideoTruth:
    """Ground truth of one test video: sparse fixations (all frames) and a reader for dense maps.

    Fixations are kept as flat pixel indices per frame, so the shuffled-AUC negatives of a frame
    (pixels fixated in the other frames of the video, minus its own, :func:`metrics.shuffled_negatives`)
    come from one count map, and long videos never hold (T,H,W) arrays in memory.
    """

    db: str
    video: str
    n_frames: int
    fps: float
    size: tuple[int, int]
    fix_index: list[np.ndarray]
    read_dense: Callable[[int], np.ndarray] = field(repr=False)
    counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        h, w = self.size
        idx = np.concatenate(self.fix_index) if self.fix_index else np.zeros(0, np.int64)
        self.counts = np.bincount(idx, minlength=h * w)

    def fixations(self, start: int, stop: int) -> np.ndarray:
        """(n,H,W) bool fixation maps of frames start..stop-1 (0-based)."""
        h, w = self.size
        out = np.zeros((stop - start, h * w), bool)
        for k, t in enumerate(range(start, stop)):
            out[k, self.fix_index[t]] = True
        return out.reshape(-1, h, w)

    def negatives(self, start: int, stop: int) -> np.ndarray:
        """(n,H,W) bool STAViS sAUC negatives: fixated in another frame, not in this one."""
        fix = self.fixations(start, stop)
        h, w = self.size
        other = (self.counts.reshape(1, h, w) - fix) > 0
        return other & ~fix

    def dense(self, start: int, stop: int) -> np.ndarray:
        """(n,H,W) float32 dense maps of frames start..stop-1 (0-based)."""
        return np.stack([self.read_dense(t) for t in range(start, stop)]).astype(np.float32)



def count_files(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


def load_truth(layout, db: str, entry, max_frames: int | None = None) -> VideoTruth:
    """Read the fixation maps of one video of a fold list (``layout``: a ``ReleaseLayout``).

    Frames scored: 1..n with n = the fold list's frame count, capped by the frames and
    fixation maps present (like the official MATLAB code, which scores frames <= nframes).
    """
    video = entry.name
    n = int(entry.n_frames)
    n = min(n, count_files(layout.frame_path(db, video, 1).parent, "img_*.jpg"))
    n = min(n, count_files(layout.fixmap_path(db, video, 1).parent, "fixMap_*.mat"))
    if max_frames is not None:
        n = min(n, int(max_frames))
    if n <= 0:
        raise FileNotFoundError(f"{layout.frame_path(db, video, 1).parent}: no frames or no fixation maps "
                                f"(expected img_%05d.jpg and fixMap_%05d.mat) for video {video!r} of {db}")
    fix_index, size = [], None
    for t in range(n):
        fix = np.asarray(layout.read_fixations(db, video, t + 1)) > 0
        if size is None:
            size = fix.shape
        elif fix.shape != size:
            raise ValueError(f"{layout.fixmap_path(db, video, t + 1)}: fixation map is {fix.shape}, "
                             f"frame 1 of the video was {size}")
        fix_index.append(np.flatnonzero(fix.ravel()))

    def read_dense(t: int) -> np.ndarray:
        d = np.asarray(layout.read_dense(db, video, t + 1), dtype=np.float32)
        if d.shape != size:
            raise ValueError(f"{layout.eyemap_path(db, video, t + 1)}: dense map is {d.shape}, "
                             f"the fixation maps are {size}")
        return d

    return VideoTruth(db, video, n, float(entry.fps), tuple(size), fix_index, read_dense)



def load_gaze(root: Path, db: str, video: str, size: tuple[int, int]) -> dict | None:
    from stavis_lib.data.maps import gaze_path, read_gaze_npz

    path = gaze_path(root, db, video)
    if not path.is_file():
        return None
    g = read_gaze_npz(path)
    x, y = g["x"].astype(np.float64), g["y"].astype(np.float64)
    scale = 1.0
    if "size" in g:                       # stored as (W, H) of the gaze coordinates
        gw, gh = (int(v) for v in np.asarray(g["size"]).ravel()[:2])
        if (gh, gw) != tuple(size):
            x, y = x * size[1] / gw, y * size[0] / gh
            scale = size[1] / gw
    out = {"x": x, "y": y}
    if "sigma" in g:                      # the dense-map Gaussian the importer used (diem.py), in gaze pixels
        out["sigma"] = float(np.asarray(g["sigma"]).ravel()[0]) * scale
    return out



def resize_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float64))[:, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[:, 0].numpy()

