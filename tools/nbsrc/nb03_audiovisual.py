"""Notebook 03 · stage 2, audio-visual training: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, STAVIS_IN_BRIEF, code, common, md  # noqa: F401

# ======================================================================================
# 03 audio-visual training
# ======================================================================================
CELLS = [
    md(f"""
# 03 · Stage 2: the audio-visual network (§3.2-3.4, eq. 7)

{STAVIS_IN_BRIEF}

Stage 2 starts from the stage-1 visual network and SoundNet weights and trains the whole network
end to end on the final audio-visual map only (the DSAM skip connections are not supervised any
more):

$$\\mathcal{{L}}_{{av}}(\\mathbf{{W}}_{{av}}) = \\mathcal{{D}}(\\sigma(S^{{av}}), Y_{{sal}}) \\qquad (7)$$

with the same $\\mathcal{{D}}$ (eq. 11). The variant trained here is the paper's proposal,
$L_3^{{mul}}$-$S_3^{{av}}$: bilinear localization (eq. 5) with $N_{{out}}$ maps, fused with the visual
features by concatenation. The SoundNet weights (`sound8.npy`) are used when you give their path
(`SOUNDNET_WEIGHTS`); otherwise the audio branch starts from random weights, which the synthetic
sounds (pure class tones) do not need. As in notebook 02, the validation NSS that picks `best.pt`
is measured on the validation videos generated apart (`validation/`), never on the test videos.

Then: the sound-source localization maps, visual-only vs audio-visual metrics on held-out videos,
and the **audio-dependence test**: the same model with the true soundtrack, with silence, and with
another video's soundtrack. If the model uses the sound, the last two must score lower.

{MODES}
"""),
    *common('RETRAIN = False   # True: train stage 2 again even if its checkpoint exists\n'
            'SOUNDNET_WEIGHTS = None   # path to SoundNet\'s sound8.npy (or soundnet8.pth), when you have it',
            state_extra=", soundnet_weights=SOUNDNET_WEIGHTS"),
    md("## 1 · Stage 1 (from notebook 02, trained here if absent) and stage 2"),
    code("""
visual = tut.visual_model()
model, result = tut.train_or_load("audiovisual", "L3mul_S3", "audiovisual", init=tut.checkpoint("visual"),
                                  retrain=RETRAIN)
print(model.config)
if result is not None:
    print(f"trained {len(result.steps)} steps in {result.seconds:.0f} s; init: {result.init_report}")
"""),
    code("""
epochs, steps = tut.training_log("audiovisual")
viz.plot_training_curves(steps, x="step", title="stage 2: training loss per step (eq. 7)");
if "val_nss" in epochs.columns or "val_cc" in epochs.columns:
    viz.plot_training_curves(epochs, x="epoch", title="stage 2: per epoch");
epochs.tail()
"""),
    md(r"""
## 2 · Sound-source localization maps

The localization module compares the projected sound features $h_a$ with the projected visual
features $h_v$ at every cell of the conv3 grid (eq. 5, $L_3^j = h_v^\top M^j h_a + \mu^j$). Below:
the $N_{out}$ maps of one clip taken while an object sounds, then the mean map over the frames of a
test video next to the ground truth and both networks' predictions.
"""),
    code("""
item = tut.clip()
out = tut.forward(model, item)
print("localization maps:", tuple(out.localization.shape), "audio features f_a:", tuple(out.audio_features.shape))
viz.plot_localization_maps(item["display"], out.localization[0], n_maps=8,
                           title=f"{item['video']}, frame {item['frame']}: localization maps L^j");
"""),
    code("""
video = tut.test_videos(1)[0].name
bv = tut.synthetic_browser_video(video, {"visual-only": visual, "audio-visual": model})
idx = np.linspace(0, bv.n_frames - 1, 5).astype(int)
viz.plot_saliency_rows(bv.frames, {k: bv.maps[k] for k in ("ground truth", "visual-only", "audio-visual", "localization")},
                       fixations=bv.fixations, frame_indices=idx);
viz.plot_nss_over_time(bv.nss, bv.fps, title=f"NSS over time, {video} (as the paper's Figs. 4-5)");
"""),
    md(r"""
## 3 · Visual-only vs audio-visual on held-out videos

Both networks scored on the same test videos of split 1 with the same protocol as in notebook 02.
"""),
    code("""
res_v = tut.evaluate(visual, "visual-only")
res_av = tut.evaluate(model, "audio-visual", baselines=False, human=False)
viz.metrics_table([res_v.datasets, res_av.datasets])
"""),
    md(r"""
## 4 · Does the model use the sound?

The audio-dependence test scores the audio-visual model (a) with the true soundtrack, (b) with
silence and (c) with the soundtrack of another test video (each video gets the next one's sound).
Negative deltas of CC / NSS / AUC / SIM mean that the sound drives the prediction; deltas near 0
would mean the "audio-visual" network ignores its audio (a failure a peer model was found to have).
"""),
    code("""
dep = tut.audio_dependence(model, "audio-visual")
dep
"""),
    md("""
Notebook **04** trains every variant of the paper's Table 1 with the same budget; notebook **05**
browses the predictions interactively.
"""),
]
