"""Make the README's figures (assets/*.png) from the networks the notebooks train.

    .venv/bin/python tools/make_figures.py            # full mode: loads (or trains) notebooks/_work/full
    .venv/bin/python tools/make_figures.py --smoke    # tiny models, for a quick look at the layout

Figures:
  assets/fig_saliency_rows.png   frames + fixations, ground truth, visual-only, audio-visual,
                                 localization (the layout of the paper's Figs. 4-5)
  assets/fig_nss_over_time.png   NSS per frame, visual-only vs audio-visual (true sound, silence),
                                 sound bursts shaded
  assets/fig_dsam_attention.png  DSAM attention maps M^1..M^4 (eq. 2) on one clip
  assets/fig_localization.png    sound-source localization maps L^j (eq. 5) at the conv3 grid on one clip
  assets/fig_sound_effect.png    the final map with the true sound, with silence, and their difference
The browser screenshot (assets/browser.png) is made by tools/browser_check.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny data and models (seconds)")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: the notebooks')")
    p.add_argument("--out", type=Path, default=REPO / "assets")
    p.add_argument("--video", default=None, help="synthetic test video (default: the first of split 1)")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import torch

    from stavis_lib import viz
    from stavis_lib.tutorial import Tutorial

    if a.threads:
        torch.set_num_threads(a.threads)
    tut = Tutorial(a.smoke, a.work, "auto", 0, threads=a.threads, progress=False)
    visual = tut.visual_model()
    audiovisual = tut.audiovisual_model()
    video = a.video or tut.test_videos(1)[0].name
    bv = tut.synthetic_browser_video(video, {"visual-only": visual, "audio-visual": audiovisual})
    a.out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name: str) -> None:
        path = a.out / name
        fig.savefig(path, dpi=100, bbox_inches="tight")
        written.append(path)

    centre = tut.sounding_frame(video, bv.n_frames)
    idx = sorted({int(i) for i in np.linspace(max(0, centre - 30), min(bv.n_frames - 1, centre + 30), 5)})
    layers = {k: bv.maps[k] for k in ("ground truth", "visual-only", "audio-visual", "localization") if k in bv.maps}
    save(viz.plot_saliency_rows(bv.frames, layers, fixations=bv.fixations, frame_indices=idx), "fig_saliency_rows.png")
    gaze = tut.gaze(video)
    curves = {**bv.nss, "audio-visual, silence": tut.silent_nss(video, audiovisual, bv.fps)}
    save(viz.plot_nss_over_time(curves, bv.fps, bursts=viz.sound_bursts(gaze),
                                title=f"NSS over time, synthetic test video {video}"), "fig_nss_over_time.png")
    item = tut.clip(video)
    out_v = tut.forward(visual, item)
    save(viz.plot_dsam_attention(item["display"], [m[0, 0] for m in out_v.attention],
                                 saliency=torch.sigmoid(out_v.saliency[0, 0]),
                                 title=f"DSAM attention (visual-only network), {video} frame {item['frame']}"),
         "fig_dsam_attention.png")
    src = viz.sounding_object(gaze, item["frame"])
    grid = viz.localization_grid(audiovisual.to(tut.device), item["frames"][None].to(tut.device),
                                 item["audio"][None].to(tut.device))
    save(viz.plot_localization_maps(item["display"], grid[0], n_maps=6, box=src.box if src else None,
                                    box_label=src.name if src else None,
                                    title=f"sound-source localization maps, {video} frame {item['frame']} "
                                          f"({src.name + ' sounds' if src else 'silence'})"),
         "fig_localization.png")
    effect = viz.sound_effect(audiovisual, item["frames"][None].to(tut.device), item["audio"][None].to(tut.device))
    save(viz.plot_sound_effect(item["display"], effect, box=src.box if src else None,
                               box_label=src.name if src else None,
                               title=f"the final map with and without the sound, {video} frame {item['frame']}"),
         "fig_sound_effect.png")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
