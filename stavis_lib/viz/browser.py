"""The overlay browser of notebook 05 (:class:`SaliencyBrowser`, ipywidgets) and what it shows:
a :class:`BrowserVideo` per video, its panels, the NSS curve with a cursor and the overlay mp4."""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stavis_lib import metrics
from stavis_lib.evaluate.reports import draw_nss_curves
from stavis_lib.viz.overlay import (draw_fixations, figure_png, hstack_images, label_image, overlay_heatmap,
                                    png_bytes, resize_frame, resize_map, to_numpy, vstack_images)

__all__ = ["nss_curve", "BrowserVideo", "render_panels", "NssCursorPlot", "write_overlay_video", "VideoSource",
           "SaliencyBrowser"]


def nss_curve(maps: Any, fixations: Any) -> np.ndarray:
    """NSS of every frame (the library's ``metrics.nss``: sample-std z-scoring, mean at the
    fixated pixels); maps are resized to the fixation maps first. NaN where a frame has no
    fixation. ``maps`` (T,h,w), ``fixations`` (T,H,W) bool -> (T,) float64."""
    m = to_numpy(maps).astype(np.float32)
    fx = to_numpy(fixations) > 0
    if m.shape[0] != fx.shape[0]:
        raise ValueError(f"maps have {m.shape[0]} frames but fixations {fx.shape[0]}")
    out = np.full(m.shape[0], np.nan)
    for t in range(m.shape[0]):
        if not fx[t].any():
            continue
        pred = m[t] if m[t].shape == fx[t].shape else resize_map(m[t], fx[t].shape)
        out[t] = float(metrics.nss(pred, fx[t]))
    return out


@dataclass
class BrowserVideo:
    """Everything the browser shows for one video.

    frames:    (T,H,W,3) uint8 display frames.
    fps:       frame rate.
    maps:      layer name -> (T,h,w) float maps (any h,w; resized for display). The browser's
               toggles are the keys, e.g. "ground truth", "visual-only", "audio-visual",
               "localization".
    fixations: (T,h,w) bool fixation maps (drawn as dots on the "ground truth" panel).
    nss:       curve name -> (T,) NSS per frame (NaN where no fixation).
    media:     the source file with its soundtrack (used for the overlay video's sound).
    note:      a line shown under the title (e.g. "no eye-tracking data for this clip").
    """

    name: str
    frames: np.ndarray
    fps: float
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    fixations: np.ndarray | None = None
    nss: dict[str, np.ndarray] = field(default_factory=dict)
    media: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames)
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"{self.name}: frames must be (T,H,W,3) uint8, got {self.frames.shape} {self.frames.dtype}")
        t = self.frames.shape[0]
        if t == 0:
            raise ValueError(f"{self.name}: no frames")
        for k, v in list(self.maps.items()):
            v = to_numpy(v).astype(np.float32, copy=False)
            if v.ndim != 3 or v.shape[0] != t:
                raise ValueError(f"{self.name}: map '{k}' must be (T={t},h,w), got {v.shape}")
            self.maps[k] = v
        if self.fixations is not None:
            self.fixations = to_numpy(self.fixations) > 0
            if self.fixations.ndim != 3 or self.fixations.shape[0] != t:
                raise ValueError(f"{self.name}: fixations must be (T={t},h,w), got {self.fixations.shape}")
        for k, v in list(self.nss.items()):
            v = to_numpy(v).astype(np.float64).ravel()
            if len(v) != t:
                raise ValueError(f"{self.name}: NSS curve '{k}' has {len(v)} values for {t} frames")
            self.nss[k] = v

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def render_panels(
    video: BrowserVideo,
    index: int,
    layers: Iterable[str],
    alpha: float = 0.6,
    cmap: str = "jet",
    labels: bool = True,
    height: int | None = 200,
) -> np.ndarray:
    """The browser's picture for frame ``index``: the frame, then one panel per selected layer
    (heat map over the frame; fixation dots on the "ground truth" panel, or on the frame when
    no ground-truth panel is shown). Unknown layers are ignored. Frames are shown ``height``
    pixels high (None: native size)."""
    if not 0 <= index < video.n_frames:
        raise IndexError(f"{video.name}: frame {index} out of range 0..{video.n_frames - 1}")
    frame = video.frames[index] if height is None else resize_frame(video.frames[index], height)
    radius = max(2, int(round(frame.shape[0] / 90)))
    chosen = [name for name in layers if name in video.maps]
    fix = None if video.fixations is None else video.fixations[index]
    if fix is None or "ground truth" in chosen:
        base = frame
    else:
        base = draw_fixations(frame, fix, color=(255, 40, 40), radius=radius)
    bar = 16 if height is None else max(16, height // 10)
    panels = [label_image(base, f"frame {index}", bar) if labels else base]
    for name in chosen:
        img = overlay_heatmap(frame, video.maps[name][index], alpha=alpha, cmap=cmap)
        if name == "ground truth" and fix is not None:
            img = draw_fixations(img, fix, color=(255, 255, 255), radius=radius)
        panels.append(label_image(img, name, bar) if labels else img)
    return hstack_images(panels)


class NssCursorPlot:
    """An NSS-over-time figure (not managed by pyplot) whose cursor line can be moved and the
    result re-rendered to PNG: the browser's bottom plot."""

    def __init__(self, curves: Mapping[str, Any], fps: float | None, size: tuple[float, float] = (8.5, 2.3), dpi: int = 80):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fps = fps
        self.figure = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.curves = {k: to_numpy(v).astype(np.float64).ravel() for k, v in curves.items()}
        draw_nss_curves(self.ax, self.curves, fps, "NSS over time" if self.curves else "NSS over time: no eye-tracking data for this video")
        self.cursor = self.ax.axvline(0.0, color="k", lw=1.2, ls="--")
        self.frame = 0
        self.figure.tight_layout()

    def set_frame(self, index: int) -> None:
        """Move the cursor to frame ``index``."""
        self.frame = int(index)
        x = index / self.fps if self.fps else float(index)
        self.cursor.set_xdata([x, x])

    @property
    def cursor_x(self) -> float:
        return float(np.asarray(self.cursor.get_xdata())[0])

    def png(self) -> bytes:
        return figure_png(self.figure)


def write_overlay_video(
    path: str | Path,
    video: BrowserVideo,
    layer: str,
    alpha: float = 0.6,
    with_sound: bool = True,
    sound_rate: int = 44100,
) -> Path:
    """Write the frames with one layer's heat map over them as an mp4 at the video's frame
    rate, with the source file's soundtrack (mono, ``sound_rate`` Hz, cut to the frames shown)
    when there is one (``data.media.write_video``)."""
    from stavis_lib.data import media

    if layer not in video.maps:
        raise KeyError(f"{video.name}: no layer '{layer}' (have {sorted(video.maps)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = (overlay_heatmap(video.frames[t], video.maps[layer][t], alpha=alpha) for t in range(video.n_frames))
    audio = None
    if with_sound and video.media and media.probe_video(video.media).has_audio:
        # the shown frames may be the first seconds of the clip: cut the sound to them
        wave = media.load_audio(video.media, sr=sound_rate)
        audio = (wave[: int(round(video.n_frames / video.fps * sound_rate))], sound_rate)
    media.write_video(str(path), frames, fps=video.fps, audio=audio)
    return path


VideoSource = Callable[[], BrowserVideo]


def _safe_name(text: str) -> str:
    """``text`` with every character but letters, digits, ``-`` and ``_`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


class SaliencyBrowser:
    """An ipywidgets browser of saliency overlays (notebook 05).

    ``sources`` maps a display name to a function returning a :class:`BrowserVideo` (called
    lazily the first time the video is chosen, then cached). ``loader`` turns a path (typed in
    the "own video" box or uploaded) into a BrowserVideo. Widgets:

    * a video chooser, a path box with a *Load* button and a file-upload button;
    * a frame slider with a play button;
    * one toggle per layer (ground truth / visual-only / audio-visual / localization);
    * the picture: the frame and one heat-map panel per selected layer;
    * a status line with the frame, time and the NSS values at this frame;
    * the NSS-over-time plot with a cursor at the current frame;
    * *Render overlay video*: writes an mp4 of the first selected layer with the original
      sound and plays it inline (an HTML5 video player with sound).

    All state changes go through methods (``select``, ``set_frame``, ``set_layers``,
    ``render_video``), so the browser can be driven from code and tested without a browser.
    ``save_view`` writes the current view as a PNG, and a render without widgets (GitHub,
    nbviewer) shows :meth:`static_text` instead of ``VBox(...)``.
    """

    LAYERS: tuple[str, ...] = ("ground truth", "visual-only", "audio-visual", "localization")

    def __init__(
        self,
        sources: Mapping[str, VideoSource],
        loader: Callable[[str], BrowserVideo] | None = None,
        work_dir: str | Path = "browser_work",
        initial: str | None = None,
        layers: Sequence[str] = ("ground truth", "visual-only", "audio-visual"),
        alpha: float = 0.6,
    ) -> None:
        import ipywidgets as w

        if not sources and loader is None:
            raise ValueError("SaliencyBrowser needs at least one video source or a loader")
        self.sources: dict[str, VideoSource] = dict(sources)
        self.loader = loader
        self.work_dir = Path(work_dir)
        self.alpha = alpha
        self._cache: dict[str, BrowserVideo] = {}
        self.video: BrowserVideo | None = None
        self.plot: NssCursorPlot | None = None
        self.frame_index = 0
        self._busy = False

        self.chooser = w.Dropdown(options=list(self.sources), description="video", layout=w.Layout(width="420px"))
        self.path_box = w.Text(placeholder="/path/to/own_video.mp4", description="own video", layout=w.Layout(width="420px"))
        self.load_button = w.Button(description="Load", tooltip="predict saliency for this file and show it")
        self.upload = w.FileUpload(accept="video/*", multiple=False, description="Upload")
        self.slider = w.IntSlider(value=0, min=0, max=0, description="frame", continuous_update=True, layout=w.Layout(width="520px"))
        self.player = w.Play(value=0, min=0, max=0, interval=80, description="play")
        w.jslink((self.player, "value"), (self.slider, "value"))
        self.toggles = {name: w.ToggleButton(value=name in layers, description=name, layout=w.Layout(width="auto")) for name in self.LAYERS}
        self.image = w.Image(format="png")
        self.nss_image = w.Image(format="png")
        self.status = w.HTML(value="")
        self.video_button = w.Button(description="Render overlay video", layout=w.Layout(width="auto"), tooltip="write an mp4 of the first selected layer with the original sound")
        self.video_player = w.Video(format="mp4", autoplay=False, loop=False, controls=True, layout=w.Layout(max_width="640px"))
        self.video_player.layout.display = "none"
        self.message = w.HTML(value="")

        self.chooser.observe(self._on_choose, names="value")
        self.slider.observe(self._on_slider, names="value")
        for t in self.toggles.values():
            t.observe(self._on_toggle, names="value")
        self.load_button.on_click(lambda _b: self.load_path(self.path_box.value))
        self.upload.observe(self._on_upload, names="value")
        self.video_button.on_click(lambda _b: self.render_video())

        self.widget = w.VBox(
            [
                w.HBox([self.chooser]),
                w.HBox([self.path_box, self.load_button, self.upload]),
                w.HBox([self.player, self.slider]),
                w.HBox(list(self.toggles.values())),
                self.status,
                self.image,
                self.nss_image,
                w.HBox([self.video_button, self.message]),
                self.video_player,
            ]
        )
        self.widget.add_class("stavis-browser")
        self.image.add_class("stavis-frame")
        self.nss_image.add_class("stavis-nss")
        self.status.add_class("stavis-status")
        self.slider.add_class("stavis-slider")
        first = initial if initial is not None else (next(iter(self.sources)) if self.sources else None)
        if first is not None:
            self.chooser.value = first
            if self.video is None:  # the observer does not fire when value is unchanged
                self.select(first)

    # -- display -------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        """The widget view, with a plain-text line (what a static render without the live
        kernel shows, e.g. GitHub or nbviewer) instead of the widget's ``VBox(...)`` repr."""
        widget_bundle = self.widget._repr_mimebundle_  # None once the widget is closed
        bundle = dict(widget_bundle(**kwargs) or {}) if widget_bundle else {}
        bundle["text/plain"] = self.static_text()
        return bundle

    def static_text(self) -> str:
        """One line saying what the browser is showing, for renders without widgets."""
        shown = f"showing {self.video.name}, frame {self.frame_index}" if self.video is not None else "no video chosen"
        return (f"SaliencyBrowser ({shown}): an interactive widget that needs a running Jupyter kernel; "
                "save_view() and render_video() write a still image and the overlay video")

    def view_image(self, frame: int | None = None) -> np.ndarray:
        """The browser's view of ``frame`` (default: the frame shown) as one RGB image: the
        picture (frame and layer panels) above the NSS-over-time plot with its cursor there.
        The browser itself stays where it is."""
        if self.video is None or self.plot is None:
            raise RuntimeError("no video is shown: choose one first")
        from PIL import Image

        index = self.frame_index if frame is None else int(min(max(frame, 0), self.video.n_frames - 1))
        picture = render_panels(self.video, index, self.layers, alpha=self.alpha)
        self.plot.set_frame(index)
        try:
            curve = np.asarray(Image.open(io.BytesIO(self.plot.png())).convert("RGB"))
        finally:
            self.plot.set_frame(self.frame_index)  # the live plot keeps the shown frame's cursor
        return vstack_images([picture, curve])

    def save_view(self, path: str | Path | None = None, frame: int | None = None) -> Path:
        """Write :meth:`view_image` of ``frame`` as a PNG (default path
        ``work_dir/view_<video>_<frame>.png``); the browser stays at the frame it shows."""
        assert self.video is not None
        index = self.frame_index if frame is None else int(min(max(frame, 0), self.video.n_frames - 1))
        image = self.view_image(index)
        if path is None:
            path = self.work_dir / f"view_{_safe_name(self.video.name)}_{index:05d}.png"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(image))
        return path

    # -- state changes -------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """The selected layers that the current video has, in the toggle order."""
        have = self.video.maps if self.video is not None else {}
        return [name for name, t in self.toggles.items() if t.value and name in have]

    def add_source(self, name: str, source: VideoSource, select: bool = True) -> None:
        self.sources[name] = source
        self._cache.pop(name, None)
        self.chooser.options = list(self.sources)
        if select:
            self.chooser.value = name

    def select(self, name: str) -> BrowserVideo:
        """Show video ``name`` (loading it on first use) at frame 0."""
        if name not in self._cache:
            self.message.value = f"loading <b>{name}</b> …"
            self._cache[name] = self.sources[name]()
        video = self._cache[name]
        self.video = video
        self.plot = NssCursorPlot(video.nss, video.fps)
        self.video_player.layout.display = "none"
        for layer, toggle in self.toggles.items():
            toggle.disabled = layer not in video.maps
        self._busy = True
        try:
            self.slider.max = video.n_frames - 1
            self.player.max = video.n_frames - 1
            self.player.interval = max(20, int(round(1000.0 / max(video.fps, 1e-3))))
            self.slider.value = 0
            self.player.value = 0
        finally:
            self._busy = False
        self.message.value = video.note
        self.set_frame(0)
        return video

    def set_frame(self, index: int) -> None:
        """Show frame ``index``: redraw the picture, the status line and the NSS cursor."""
        if self.video is None:
            return
        index = int(min(max(index, 0), self.video.n_frames - 1))
        self.frame_index = index
        if self.slider.value != index:
            self._busy = True
            try:
                self.slider.value = index
            finally:
                self._busy = False
        self.image.value = png_bytes(render_panels(self.video, index, self.layers, alpha=self.alpha))
        assert self.plot is not None
        self.plot.set_frame(index)
        self.nss_image.value = self.plot.png()
        self.status.value = self.status_text()

    def set_layers(self, layers: Iterable[str]) -> None:
        chosen = set(layers)
        self._busy = True
        try:
            for name, t in self.toggles.items():
                t.value = name in chosen
        finally:
            self._busy = False
        self.set_frame(self.frame_index)

    def status_text(self) -> str:
        """The status line: video, frame, time and NSS values at the current frame. It carries
        ``data-frame`` / ``data-cursor`` attributes that the browser test reads."""
        v = self.video
        if v is None:
            return ""
        i = self.frame_index
        parts = [f"<b>{v.name}</b>", f"frame {i} of 0–{v.n_frames - 1}", f"t = {i / v.fps:.2f} s"]
        for k, curve in v.nss.items():
            val = curve[i]
            parts.append(f"NSS {k}: {val:.2f}" if np.isfinite(val) else f"NSS {k}: –")
        cursor = self.plot.cursor_x if self.plot is not None else float("nan")
        return (
            f'<span class="stavis-status-line" data-frame="{i}" data-cursor="{cursor:.4f}">'
            + " &nbsp;|&nbsp; ".join(parts)
            + "</span>"
        )

    def load_path(self, path: str) -> BrowserVideo | None:
        """Predict and show a video file given by path (the "own video" box)."""
        path = str(path).strip()
        if not path:
            self.message.value = "type the path of a video file first"
            return None
        if self.loader is None:
            self.message.value = "this browser was built without a loader for own videos"
            return None
        p = Path(path).expanduser()
        if not p.is_file():
            self.message.value = f"<span style='color:#b00'>no such file: {p}</span>"
            return None
        name = f"own: {p.name}"
        loader = self.loader
        self.add_source(name, lambda: loader(str(p)), select=False)
        if self.chooser.value == name:
            self.select(name)
        else:
            self.chooser.value = name  # the observer calls select()
        return self.video

    def render_video(self, layer: str | None = None) -> Path | None:
        """Write the overlay mp4 of ``layer`` (default: the first selected layer other than the
        ground truth) with the original sound, and show the player."""
        if self.video is None:
            return None
        if layer is not None and layer not in self.video.maps:
            raise KeyError(f"{self.video.name}: no layer '{layer}' (have {sorted(self.video.maps)})")
        layers = [layer] if layer is not None else [l for l in self.layers if l != "ground truth"] or self.layers
        if not layers:
            self.message.value = "select a layer to render"
            return None
        layer = layers[0]
        out = self.work_dir / f"overlay_{_safe_name(f'{self.video.name}_{layer}')}.mp4"
        self.message.value = f"writing {out.name} …"
        write_overlay_video(out, self.video, layer, alpha=self.alpha)
        self.video_player.value = out.read_bytes()
        self.video_player.layout.display = None
        self.message.value = f"overlay video: {layer} ({out})"
        return out

    # -- widget callbacks ----------------------------------------------------------------
    def _on_choose(self, change: dict) -> None:
        if change["new"] is not None:
            self.select(change["new"])

    def _on_slider(self, change: dict) -> None:
        if not self._busy:
            self.set_frame(change["new"])

    def _on_toggle(self, _change: dict) -> None:
        if not self._busy:
            self.set_frame(self.frame_index)

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = Path(str(item["name"])).name
        dest = self.work_dir / "uploads" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        content = item["content"]
        dest.write_bytes(content.tobytes() if hasattr(content, "tobytes") else bytes(content))
        self.load_path(str(dest))
