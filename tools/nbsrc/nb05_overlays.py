"""Notebook 05 · interactive overlays: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, code, common, md, overview

# ======================================================================================
# 05 interactive overlays
# ======================================================================================
OVERVIEW = overview(
    learn=["to browse the predictions of the visual-only and the audio-visual network frame by frame, "
           "with the ground truth, the localization maps and the NSS over time",
           "to predict saliency for any video file with its soundtrack (from the browser or the command line)",
           "to drive the browser from code, and to save a still view and an overlay video with the original sound"],
    cpu="not measured", gpu="not measured", smoke="about 1.5 min after notebooks 01-03")

RECAP = """
**So far.** Notebook 01 generated the synthetic benchmark, 02 trained the visual-only network
(stage 1) and 03 the audio-visual network $L_3^{mul}$-$S_3^{av}$ (stage 2) on it; 04 trained every
row of the paper's Table 1 with one shared budget. This notebook shows the two networks of 02 and
03 side by side on held-out videos and on real clips.
""".strip()

CELLS = [
    md(f"""
# 05 · Interactive overlays: browse the predictions

{OVERVIEW}

{RECAP}

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
    md("""
## A still view and the overlay video

The browser is a widget: it needs a running kernel, and a saved notebook (GitHub, nbviewer) shows
only a line of text in its place. So the next cell builds it, saves one view (a frame with its
layers, above the NSS plot) as a PNG and writes the overlay video of the audio-visual layer with
the original sound, and shows both: these stay visible in a static render. On a synthetic video
the still shows a frame late in the longest sound burst (where the viewers are on the sounding
object).
"""),
    code("""
from IPython.display import Image, Video, display

browser = tut.browser({"visual-only": visual, "audio-visual": audiovisual})
shown = browser.video
frame = tut.sounding_frame(shown.name.split("/", 1)[1], shown.n_frames) if shown.name.startswith("Synthetic/") else 0
still = browser.save_view(frame=frame)  # the browser itself stays at frame 0
print(f"{still}: {shown.name}, frame {frame}, layers {browser.layers}")
display(Image(filename=str(still)))
overlay = browser.render_video("audio-visual")
print(f"{overlay}: {overlay.stat().st_size / 1e3:.0f} kB, {shown.n_frames} frames at {shown.fps:g} fps, with sound")
display(Video(str(overlay), embed=True, html_attributes="controls loop"))
"""),
    md("""
## The browser
"""),
    code("""
browser
"""),
    md("""
The browser is an object: it can be driven from code too, e.g. `browser.set_frame(40)`,
`browser.set_layers(["ground truth", "audio-visual"])`, `browser.load_path("/path/to/video.mp4")`,
`browser.save_view(frame=10)` or `browser.render_video("visual-only")`. From a terminal, the same
predictions for any video:

```
python -m stavis_lib predict VIDEO --out DIR   # DIR/maps.npz, DIR/overlay.mp4 (with sound), DIR/summary.json
```

**Exercise 1.** Find the frame of the current video where sound helps most: with
`v = browser.video`, take `d = v.nss["audio-visual"] - v.nss["visual-only"]`, call
`browser.set_frame(int(np.nanargmax(d)))` and save the view.

*What you should observe:* the slider, the status line (frame number and both NSS values) and the
dashed cursor of the NSS plot all move to that frame, and the status line's two NSS values differ by
`np.nanmax(d)`; the saved PNG shows that frame. Whether a sound is playing there you can check in
the gaze file's `sounding` array (notebook 01).

**Exercise 2.** Load a real clip, which has no eye-tracking data:
`browser.load_path(str(Path(stavis_lib.__file__).parents[1] / "assets" / "media" / "obama_speech.mp4"))`.

*What you should observe:* the *ground truth* toggle is disabled, the status line shows no NSS
values, the plot below the picture is titled "NSS over time: no eye-tracking data for this video",
and the note under the controls gives the clip's size and frame rate, says whether it has a sound
track, and how much of it was predicted ("first 6.0 s of 8.7 s" on a CPU: `tut.sizes.clip_seconds`).
"""),
]
