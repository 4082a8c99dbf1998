"""Figures and the interactive overlay browser of the STAViS tutorial notebooks.

Everything a notebook draws is made here, so that the tests reach it:

* heat-map overlays of a saliency map on a frame and fixation dots (the paper's Figs. 1, 4, 5):
  :mod:`~stavis_lib.viz.overlay`;
* the NSS-over-time plot with a cursor at the current frame (Figs. 4-5, NSS as in eq. 10), the
  DSAM attention maps M^m of the four levels (eq. 2), the sound-source localization maps L^j
  (eqs. 3-5), training curves and the audio window: :mod:`~stavis_lib.viz.figures`;
* which object sounds when, the localization maps at their native grid and the effect of the
  sound on the final map, AV(true) - AV(silence): :mod:`~stavis_lib.viz.audiovisual`;
* the viewers' response to a sound onset: :mod:`~stavis_lib.viz.gaze`;
* the Table-1 ablation table in the paper's layout and the paper's own numbers:
  :mod:`~stavis_lib.viz.paper`; evaluation result tables: :mod:`~stavis_lib.viz.tables`;
* :class:`SaliencyBrowser`, an ipywidgets browser: choose a video, scrub frames, toggle
  ground truth / visual-only / audio-visual / localization overlays, play the overlay video
  with its sound, and follow the NSS curve with a cursor: :mod:`~stavis_lib.viz.browser`.

Arrays are numpy; torch tensors are accepted wherever a map is expected (they are detached
and moved to the CPU). ``viz`` sits on top of the library: it uses ``metrics`` (metric names and
labels) and ``evaluate`` (the NSS-curve drawing), and nothing below it imports ``viz``.
"""
from stavis_lib.viz.audiovisual import (SoundEffect, SoundingObject, localization_grid, mean_in_box,
                                        plot_sound_effect, sound_bursts, sound_effect, sounding_object)
from stavis_lib.viz.browser import (BrowserVideo, NssCursorPlot, SaliencyBrowser, VideoSource, nss_curve,
                                    render_panels, write_overlay_video)
from stavis_lib.viz.figures import (plot_audio_window, plot_dsam_attention, plot_gaze_and_sound,
                                    plot_localization_maps, plot_nss_over_time, plot_saliency_rows,
                                    plot_training_curves, shade_bursts)
from stavis_lib.viz.gaze import plot_gaze_maps, plot_onset_response
from stavis_lib.viz.overlay import (colorize, draw_fixations, figure_png, fixation_points, hstack_images,
                                    label_image, normalize_map, overlay_heatmap, png_bytes, resize_frame, resize_map,
                                    to_numpy, vstack_images)
from stavis_lib.viz.paper import (PAPER_TABLE1, TABLE1_LABELS, ablation_ranks, ablation_table, paper_table1,
                                  plot_ablation, plot_ablation_ranks, table1_side_by_side)
from stavis_lib.viz.tables import layout_summary, metrics_table, overall_metrics

__all__ = [
    "SoundEffect", "SoundingObject", "localization_grid", "mean_in_box", "plot_sound_effect", "sound_bursts", "sound_effect",
    "sounding_object", "shade_bursts",
    "BrowserVideo", "NssCursorPlot", "SaliencyBrowser", "VideoSource", "nss_curve", "render_panels",
    "write_overlay_video", "plot_audio_window", "plot_dsam_attention", "plot_gaze_and_sound",
    "plot_localization_maps", "plot_nss_over_time", "plot_saliency_rows", "plot_training_curves",
    "plot_onset_response", "plot_gaze_maps", "colorize",
    "draw_fixations", "figure_png", "fixation_points", "hstack_images", "label_image", "normalize_map",
    "overlay_heatmap", "png_bytes", "resize_frame", "resize_map", "to_numpy", "vstack_images", "PAPER_TABLE1", "TABLE1_LABELS",
    "ablation_table", "paper_table1", "plot_ablation", "table1_side_by_side", "ablation_ranks",
    "plot_ablation_ranks", "layout_summary", "metrics_table",
    "overall_metrics",
]
