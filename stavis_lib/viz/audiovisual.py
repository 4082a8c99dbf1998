"""What the sound does in an audio-visual STAViS network (§3.3-3.4), as figures.

* :func:`sounding_object` / :func:`sound_bursts`: which object of a synthetic video sounds at a
  frame, and when each burst plays (from the video's gaze file, ``data.synthetic``);
* :func:`localization_grid`: the localization maps L^j (eqs. 3-5) at their native grid, the
  conv3 cells, before the upsampling to the input size;
* :func:`sound_effect` and :func:`plot_sound_effect`: the final map with the true soundtrack,
  with silence, and their difference AV(true) - AV(silence), on one colour scale.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stavis_lib.viz.overlay import as_frame, to_numpy

__all__ = ["SoundingObject", "SoundEffect", "sounding_object", "sound_bursts", "localization_grid",
           "sound_effect", "plot_sound_effect", "mean_in_box", "draw_map_on_frame", "draw_box"]


@dataclass(frozen=True)
class SoundingObject:
    """The object that sounds at one frame of a synthetic video.

    name: its class name (e.g. "red_disc"); index: its object index in the video;
    box: (x0, y0, x1, y1) in pixels of the original frame."""

    name: str
    index: int
    box: tuple[float, float, float, float]


def _class_name(gaze: Mapping[str, Any], obj: int) -> str:
    names = [str(n) for n in np.asarray(gaze["class_names"])]
    return names[int(np.asarray(gaze["object_class"])[obj])]


def sounding_object(gaze: Mapping[str, Any], frame: int) -> SoundingObject | None:
    """The object sounding at ``frame`` (0-based) of a synthetic video's gaze file, or None
    during silence. Needs the keys ``sounding``, ``object_class``, ``class_names``, ``boxes``."""
    sounding = np.asarray(gaze["sounding"])
    if not 0 <= frame < len(sounding):
        raise ValueError(f"frame {frame} out of range (0..{len(sounding) - 1})")
    obj = int(sounding[frame])
    if obj < 0:
        return None
    box = tuple(float(v) for v in np.asarray(gaze["boxes"])[obj, frame])
    return SoundingObject(_class_name(gaze, obj), obj, box)  # type: ignore[arg-type]


def sound_bursts(gaze: Mapping[str, Any]) -> list[tuple[float, float, str]]:
    """The sound bursts of a synthetic video: (start s, end s, class name of the source)."""
    bursts = np.asarray(gaze.get("bursts", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
    return [(float(s), float(e), _class_name(gaze, int(o))) for s, e, o in bursts]


def localization_grid(model: Any, frames: Any, audio: Any) -> Any:
    """The localization maps L^j (eqs. 3-5) at their native grid, (B,K,h,w): the module's
    own ``project`` and ``correspond`` on the X^3 and f_a of one forward pass (captured with
    a forward hook), without the final upsampling to the input size."""
    import torch

    loc = getattr(model, "localization", None)
    if loc is None:
        raise ValueError(f"variant {model.config.variant!r} has no localization module")
    captured: dict[str, tuple] = {}

    def keep_inputs(_module: Any, args: tuple, _out: Any) -> None:  # returns None: the output stays
        captured["args"] = args

    hook = loc.register_forward_hook(keep_inputs)
    try:
        with torch.no_grad():
            model(frames, audio)
            x3, f_a = captured["args"][:2]
            return loc.correspond(*loc.project(x3, f_a))
    finally:
        hook.remove()


@dataclass
class SoundEffect:
    """Saliency maps sigma(S^av) (B,H,W) of one batch with its soundtrack and with silence."""

    with_sound: np.ndarray
    silent: np.ndarray

    @property
    def difference(self) -> np.ndarray:
        """AV(true) - AV(silence): where the sound raises (> 0) or lowers (< 0) the map."""
        return self.with_sound - self.silent


def sound_effect(model: Any, frames: Any, audio: Any) -> SoundEffect:
    """The final map sigma(S^av) with ``audio`` and with silence (all-zero waveforms, as the
    audio-dependence test feeds), for the same ``frames`` (B,3,T,H,W)."""
    import torch

    if not model.config.uses_audio:
        raise ValueError(f"variant {model.config.variant!r} does not use audio")
    with torch.no_grad():
        true = torch.sigmoid(model(frames, audio).saliency[:, 0])
        silent = torch.sigmoid(model(frames, torch.zeros_like(audio)).saliency[:, 0])
    return SoundEffect(to_numpy(true), to_numpy(silent))


def mean_in_box(values: Any, box: Sequence[float], frame_size: tuple[int, int]) -> float:
    """Mean of a map (h,w) over the cells that ``box`` = (x0, y0, x1, y1), given in pixels of a
    frame of ``frame_size`` = (H, W), touches (the map covers the whole frame, any aspect)."""
    m = to_numpy(values).astype(np.float64)
    h, w = m.shape[-2:]
    x0, y0, x1, y1 = box
    rows = slice(max(0, int(y0 / frame_size[0] * h)), min(h, int(np.ceil(y1 / frame_size[0] * h))))
    cols = slice(max(0, int(x0 / frame_size[1] * w)), min(w, int(np.ceil(x1 / frame_size[1] * w))))
    cells = m[..., rows, cols]
    if cells.size == 0:
        raise ValueError(f"box {tuple(box)} covers no cell of a {h}x{w} map over a {frame_size} frame")
    return float(cells.mean())


def draw_box(ax: Any, box: Sequence[float] | None, label: str | None = None, color: str = "white") -> None:
    """Outline ``box`` = (x0, y0, x1, y1) in frame pixels on an image axes (nothing if None)."""
    if box is None:
        return
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, lw=1.5, ls="--"))
    if label:
        ax.text(x0, y0 - 2, label, color=color, fontsize=8, va="bottom")


def draw_map_on_frame(ax: Any, frame: Any, grid: Any, alpha: float = 0.6, **imshow: Any) -> Any:
    """Draw the frame and, over it, ``grid`` (h,w) stretched to the whole frame with nearest
    interpolation, so every cell of the native grid stays a visible block. Returns the map's
    image (for a colour bar)."""
    f = as_frame(frame)
    height, width = f.shape[:2]
    ax.imshow(f, extent=(0, width, height, 0))
    im = ax.imshow(to_numpy(grid).astype(np.float32), extent=(0, width, height, 0), alpha=alpha,
                   interpolation="nearest", **imshow)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def plot_sound_effect(frame: Any, effect: SoundEffect, index: int = 0, box: Sequence[float] | None = None,
                      box_label: str | None = None, title: str | None = None, alpha: float = 0.7):
    """Three panels over one frame: sigma(S^av) with the true sound, with silence (one shared
    colour scale), and AV(true) - AV(silence) on a diverging scale centred on 0 (red: the sound
    raises the map). ``box`` outlines the sounding object."""
    import matplotlib.pyplot as plt

    true, silent, diff = effect.with_sound[index], effect.silent[index], effect.difference[index]
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.1))
    top = float(max(true.max(), silent.max()))
    for ax, m, name in ((axes[0], true, "AV, true sound"), (axes[1], silent, "AV, silence")):
        im = draw_map_on_frame(ax, frame, m, alpha, cmap="viridis", vmin=0.0, vmax=top)
        ax.set_title(f"{name}: sigma(S^av)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    span = float(np.abs(diff).max()) or 1.0
    im = draw_map_on_frame(axes[2], frame, diff, alpha, cmap="RdBu_r", vmin=-span, vmax=span)
    axes[2].set_title("difference: true - silence", fontsize=9)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.03)
    for ax in axes:
        draw_box(ax, box, box_label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
