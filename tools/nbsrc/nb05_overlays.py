"""Notebook 05 · interactive overlays: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, STAVIS_IN_BRIEF, code, common, md  # noqa: F401

# ======================================================================================
# 05 interactive overlays
# ======================================================================================
CELLS = [
    md(f"""
# 05 · Interactive overlays: browse the predictions

{STAVIS_IN_BRIEF}

An **ipywidgets browser** of the two trained networks (stage 1 visual-only, stage 2 audio-visual
$L_3^{{mul}}$-$S_3^{{av}}$):

* choose a video: a held-out synthetic video (with ground truth), one of the real clips with sound
  shipped in `assets/media/` (Big Buck Bunny, Sintel, a speech, a 0.55 s sports clip), or your own
  file (type its path and press *Load*, or *Upload* it);
* scrub the frames with the slider (or press ▶);
* toggle the layers: **ground truth** (dense map, fixations as white dots), **visual-only**,
  **audio-visual**, and **localization** (the mean of the sound-source localization maps);
* the status line and the **NSS-over-time** plot (as the paper's Figs. 4-5) follow the current frame;
* *Render overlay video* writes an mp4 of the first selected model layer with the **original sound**
  and plays it inline.

On Colab the cell below enables the widget manager Colab needs for ipywidgets 8. The networks are
loaded from the working folder (trained here first when notebooks 02-03 have not run).

{MODES}
"""),
    *common(),
    code("""
if "google.colab" in sys.modules:
    from google.colab import output

    output.enable_custom_widget_manager()

visual = tut.visual_model()
audiovisual = tut.audiovisual_model()
"""),
    code("""
browser = tut.browser({"visual-only": visual, "audio-visual": audiovisual})
browser
"""),
    md("""
The browser is an object: it can be driven from code too, e.g. `browser.set_frame(40)`,
`browser.set_layers(["ground truth", "audio-visual"])`, `browser.load_path("/path/to/video.mp4")` or
`browser.render_video()`. From a terminal, the same predictions for any video:

```
python -m stavis_lib predict VIDEO --out DIR   # DIR/maps.npz, DIR/overlay.mp4 (with sound), DIR/summary.json
```
"""),
]
