"""The one frame preprocessing shared by training, evaluation and prediction.

The official loader reads every frame (a JPEG of any size), resizes it to 320×240 (W×H)
with PIL's bicubic filter, then its ``Scale`` transform resizes that to
``sample_size × sample_size`` with PIL's bilinear filter (aspect ratio not kept). Frames that
reach the network through :class:`stavis_lib.data.clips.FrameCache` (training),
:func:`stavis_lib.evaluate.read_frames_resized` (evaluation) and
:func:`stavis_lib.inference.predict_video` (prediction) all go through
:func:`model_frame`, so the same picture gives the same input tensor on every path.
"""
from __future__ import annotations

import numpy as np

__all__ = ["OFFICIAL_INTERMEDIATE_SIZE", "model_frame"]

OFFICIAL_INTERMEDIATE_SIZE = (320, 240)
"""The official loader first resizes every JPEG to 320×240 (W, H) with PIL's bicubic filter."""


def model_frame(frame, size: int,
                intermediate: tuple[int, int] | None = OFFICIAL_INTERMEDIATE_SIZE) -> np.ndarray:
    """A frame as the network sees it: ``(size, size, 3)`` uint8 RGB.

    Args:
        frame: a PIL image (any mode) or a uint8 ``(H, W, 3)`` RGB array.
        size: the model's ``sample_size``.
        intermediate: ``(W, H)`` of the first, bicubic step (official 320×240); None skips
            it (one bilinear step, a deviation that ``DataConfig.intermediate_size`` names).

    Each step is skipped when the picture already has its size, as PIL would return it
    unchanged anyway.
    """
    from PIL import Image

    img = frame if isinstance(frame, Image.Image) else Image.fromarray(_rgb_array(frame))
    if img.mode != "RGB":
        img = img.convert("RGB")
    if intermediate is not None and img.size != tuple(intermediate):
        img = img.resize(tuple(intermediate), Image.BICUBIC)
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _rgb_array(frame: np.ndarray) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"model_frame expects a (H, W, 3) uint8 RGB frame, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)
