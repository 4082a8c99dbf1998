"""Colouring and overlays: saliency maps as heat maps over frames, fixation dots, labelled and
stacked panels, PNG encoding.

Arrays are numpy; torch tensors are accepted wherever a map or a frame is expected (they are
detached and moved to the CPU).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["to_numpy", "as_map", "as_frame", "normalize_map", "resize_map", "colorize", "overlay_heatmap",
           "fixation_points", "draw_fixations", "label_image", "hstack_images", "vstack_images", "png_bytes", "figure_png",
           "resize_frame"]


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached, cast to float32 if they are
    low-precision floats, and moved to the CPU."""
    if hasattr(x, "detach"):
        x = x.detach()
        if getattr(x, "is_floating_point", lambda: False)():
            x = x.float()
        x = x.cpu().numpy()
    return np.asarray(x)


def as_map(saliency: Any) -> np.ndarray:
    """A 2-D float map from (H,W), (1,H,W) or (1,1,H,W) input."""
    m = to_numpy(saliency).astype(np.float32, copy=False)
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"expected a single 2-D saliency map, got shape {m.shape}")
    return m


def as_frame(frame: Any) -> np.ndarray:
    """An (H,W,3) uint8 RGB frame from uint8 or [0,1]/[0,255] float input (gray is tiled)."""
    f = to_numpy(frame)
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H,W,3) RGB frame, got shape {f.shape}")
    f = f[:, :, :3]
    if f.dtype != np.uint8:
        f = f.astype(np.float32)
        if np.nanmax(f) <= 1.0:
            f = f * 255.0
        f = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return f


def normalize_map(saliency: Any) -> np.ndarray:
    """Min-max normalise a map to [0, 1] (float32). A constant or all-NaN map gives zeros;
    NaN pixels become 0."""
    m = as_map(saliency).astype(np.float32)
    finite = np.isfinite(m)
    if not finite.any():
        return np.zeros_like(m)
    lo = float(m[finite].min())
    hi = float(m[finite].max())
    out = np.zeros_like(m)
    if hi > lo:
        out[finite] = (m[finite] - lo) / (hi - lo)
    return out


def resize_map(saliency: Any, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to ``size = (H, W)`` (pixel-centre aligned, like
    ``align_corners=False``)."""
    m = as_map(saliency)
    h, w = int(size[0]), int(size[1])
    if m.shape == (h, w):
        return m.astype(np.float32, copy=True)
    img = Image.fromarray(np.ascontiguousarray(m, dtype=np.float32))  # mode "F"
    return np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float32)


def colorize(saliency: Any, cmap: str = "jet") -> np.ndarray:
    """Map a saliency map through a matplotlib colour map -> uint8 (H,W,3); the map is
    min-max normalised first."""
    from matplotlib import colormaps

    rgba = colormaps[cmap](normalize_map(saliency))
    return np.clip(np.rint(rgba[..., :3] * 255.0), 0, 255).astype(np.uint8)


def overlay_heatmap(
    frame: Any, saliency: Any, alpha: float = 0.6, cmap: str = "jet", gamma: float = 1.0
) -> np.ndarray:
    """Blend a saliency map over a frame as a heat map -> uint8 (H,W,3).

    The map is resized to the frame, min-max normalised to s in [0,1], coloured with ``cmap``
    and blended with a per-pixel opacity ``alpha * s**gamma``: non-salient pixels show the
    frame unchanged and the most salient ones are ``alpha`` colour.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    f = as_frame(frame)
    s = normalize_map(resize_map(saliency, f.shape[:2]))
    color = colorize(s, cmap).astype(np.float32)
    weight = (alpha * np.power(s, gamma))[:, :, None]
    out = f.astype(np.float32) * (1.0 - weight) + color * weight
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fixation_points(fixations: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """(N,2) float x,y pixel coordinates of the fixated pixels of a binary map.

    With ``size = (H, W)`` the coordinates are scaled from the map's grid to an image of that
    size (pixel centres map to pixel centres)."""
    fix = as_map(fixations) > 0
    ys, xs = np.nonzero(fix)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    if size is not None and len(pts):
        h, w = fix.shape
        pts[:, 0] = (pts[:, 0] + 0.5) * (size[1] / w) - 0.5
        pts[:, 1] = (pts[:, 1] + 0.5) * (size[0] / h) - 0.5
    return pts


def draw_fixations(
    frame: Any,
    fixations: Any | None = None,
    color: tuple[int, int, int] = (255, 255, 255),
    radius: int = 2,
    outline: tuple[int, int, int] | None = (0, 0, 0),
    points: Any | None = None,
) -> np.ndarray:
    """Draw fixation dots on a frame -> new uint8 (H,W,3).

    Give either ``fixations``, a binary fixation map of any size (scaled to the frame), or
    ``points``, an (N,2) array of x,y pixel coordinates in the frame (NaN rows are skipped,
    e.g. per-viewer gaze samples while not fixating)."""
    f = as_frame(frame).copy()
    if (fixations is None) == (points is None):
        raise ValueError("draw_fixations needs exactly one of fixations= (a map) or points= (x,y rows)")
    if points is not None:
        pts = to_numpy(points).astype(np.float64).reshape(-1, 2)
    else:
        pts = fixation_points(fixations, f.shape[:2])
    img = Image.fromarray(f)
    draw = ImageDraw.Draw(img)
    for x, y in pts:
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, fill=tuple(color), outline=None if outline is None else tuple(outline))
    return np.asarray(img)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:  # pragma: no cover - older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def label_image(image: np.ndarray, text: str, height: int = 16) -> np.ndarray:
    """Put a title bar of ``height`` pixels (white text on black) above an RGB image."""
    img = as_frame(image)
    bar = Image.new("RGB", (img.shape[1], height), (0, 0, 0))
    draw = ImageDraw.Draw(bar)
    size = max(8, height - 4)
    draw.text((3, max(0, (height - size) // 2 - 1)), text, fill=(255, 255, 255), font=_font(size))
    return np.concatenate([np.asarray(bar), img], axis=0)


def _stack(images: Sequence[np.ndarray], axis: int, gap: int, fill: int) -> np.ndarray:
    """Concatenate RGB images along ``axis`` (1: side by side, 0: top to bottom), padding the
    other side to the largest image and separating them by ``gap`` pixels of value ``fill``."""
    if not images:
        raise ValueError("stacking images needs at least one image")
    imgs = [as_frame(i) for i in images]
    other = 1 - axis
    size = max(i.shape[other] for i in imgs)
    parts: list[np.ndarray] = []
    for k, im in enumerate(imgs):
        if im.shape[other] < size:
            pad = [(0, 0), (0, 0), (0, 0)]
            pad[other] = (0, size - im.shape[other])
            im = np.pad(im, pad, constant_values=fill)
        if k:
            shape = [0, 0, 3]
            shape[axis], shape[other] = gap, size
            parts.append(np.full(shape, fill, np.uint8))
        parts.append(im)
    return np.concatenate(parts, axis=axis)


def hstack_images(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Concatenate RGB images side by side (padded to the tallest), with black gaps."""
    return _stack(images, axis=1, gap=gap, fill=0)


def vstack_images(images: Sequence[np.ndarray], gap: int = 4, fill: int = 255) -> np.ndarray:
    """Concatenate RGB images top to bottom (padded to the widest), with ``fill`` gaps (white)."""
    return _stack(images, axis=0, gap=gap, fill=fill)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB uint8 image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(as_frame(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def figure_png(fig: Any, dpi: int | None = None) -> bytes:
    """Render a matplotlib figure (pyplot or not) to PNG bytes with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(buf) if dpi is None else fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def resize_frame(frame: Any, height: int) -> np.ndarray:
    """Resize an RGB frame to ``height`` pixels, keeping its aspect ratio (bilinear)."""
    f = as_frame(frame)
    if f.shape[0] == height:
        return f
    width = max(1, int(round(f.shape[1] * height / f.shape[0])))
    return np.asarray(Image.fromarray(f).resize((width, int(height)), Image.BILINEAR))

