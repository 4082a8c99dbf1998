"""Notebook 03 · stage 2, audio-visual training: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, code, common, md, overview

# ======================================================================================
# 03 audio-visual training
# ======================================================================================
CELLS = [
    md(f"""
# 03 · Stage 2: the audio-visual network (§3.2-3.4, eq. 7)

{overview(
    learn=["how the sound enters STAViS: SoundNet's vector $f_a$, the projections $h_a$, $h_v$ (eq. 3) and "
           "the bilinear localization maps $L_3^j$ (eq. 5), written in a few lines of torch and checked "
           "against the library",
           "how the proposed fusion $S_3^{av}$ concatenates the visual features $V$ and the maps $L$ (§3.4)",
           "to train stage 2 (eq. 7) from the stage-1 network of notebook 02",
           "to read localization maps and the difference the sound makes, AV(true sound) - AV(silence)",
           "to test whether a model uses its sound: true soundtrack vs silence vs another video's"],
    cpu="about 17 min after notebook 02 (measured: 25 min while the test suite ran alongside, 21 of them the stage-2 training)", gpu="not measured", smoke="about 4 min (measured on busy cores)")}

**So far.** Notebook 01 generated the synthetic benchmark: 3-4 moving objects per video, at most one
of which sounds at a time, and simulated viewers who tend to look at the sounding one; an object
looks the same whether it sounds or not. Notebook 02 trained stage 1, the visual-only network
(3D ResNet + DSAM, eq. 6), which cannot know which object sounds. This notebook adds the audio
branch (SoundNet, §3.2), the sound-source localization (§3.3) and the fusion (§3.4).

Stage 2 starts from the stage-1 network and trains the whole network end to end on the final
audio-visual map only (the DSAM side outputs are not supervised any more):

$$\\mathcal{{L}}_{{av}}(\\mathbf{{W}}_{{av}}) = \\mathcal{{D}}(\\sigma(S^{{av}}), Y_{{sal}}) \\qquad (7)$$

with the same $\\mathcal{{D}}$ as stage 1 (eq. 11). The variant trained here is the paper's proposal,
$L_3^{{mul}}$-$S_3^{{av}}$: bilinear localization (eq. 5) with $N_{{out}}$ maps, fused with the visual
features by concatenation. **SoundNet weights:** with `SOUNDNET_WEIGHTS = None` (the default) the
audio branch starts from random weights and learns the benchmark's class sounds from scratch (when
stage 2 trains, its report below says so under `init`); give the path of SoundNet's `sound8.npy` (or
`soundnet8.pth`) to start from the pretrained network, as the paper does. As in notebook 02, the
validation NSS that picks `best.pt` is measured on validation videos generated apart.

{MODES}
"""),
    *common('RETRAIN = False   # True: train stage 2 again even if its checkpoint exists\n'
            'SOUNDNET_WEIGHTS = None   # path to SoundNet\'s sound8.npy (or soundnet8.pth); None: random start',
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
## 2 · One clip through the network: every tensor's shape

One test clip (16 frames in the CPU preset) taken while an object sounds, and its audio window.
Forward hooks record the output of each part named in Fig. 2 of the paper; they also keep the
inputs of the localization module (X^3 and $f_a$) and of the fusion ($S^v$, $V$, $L$), which the
next cells recompute by hand.
"""),
    code("""
item = tut.clip()
video, frame = item["video"].split("/")[-1], int(item["frame"])
gaze = tut.gaze(video)
src = viz.sounding_object(gaze, frame)
print(f"{video}, frame {frame} ({frame / float(gaze['fps']):.2f} s):",
      f"{src.name} sounds" if src else "silence")

parts = {"trunk.conv1": "conv1", "trunk.layer1": "layer1", "trunk.layer2": "layer2 = X^3",
         "trunk.layer3": "layer3", "audio": "f_a (SoundNet, §3.2)", "localization.affine_visual": "U_v f_v + b_v (eq. 3)",
         "localization.affine_audio": "U_a f_a + b_a (eq. 3)", "localization": "L, upsampled (eq. 5)",
         "fusion": "S^av, logits (§3.4)"}
shapes, captured = {}, {}
modules = dict(model.named_modules())
hooks = [modules[name].register_forward_hook(lambda m, args, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
         for name in parts]
hooks.append(model.localization.register_forward_hook(lambda m, args, out: captured.update(loc_args=args, L=out)))
hooks.append(model.fusion.register_forward_hook(lambda m, args, out: captured.update(fusion_args=args)))
out = tut.forward(model, item)
for h in hooks:
    h.remove()
table = pd.DataFrame({"part": ["frames (input)", "audio window (input)"] + list(parts.values()),
                      "shape": [tuple(item["frames"][None].shape), tuple(item["audio"][None].shape)]
                               + [shapes[n] for n in parts]})
table
"""),
    md(r"""
## 3 · The sound-source localization by hand (§3.3, eqs. 3 and 5)

$f_v$ is the conv3 output X^3 pooled over time (here: the two central time steps, as the official
code; `visual_pool="mean"` would average all of them, as the paper's text says). Both vectors are
projected to $D_h$ dimensions, each followed by a ReLU as in the official code:

$$h_a = U_a f_a + b_a, \qquad h_v = U_v f_v + b_v \qquad (3)$$

$h_a$ is one vector per clip; $h_v$ one vector per cell of the conv3 grid. Each of the $N_{out}$
bilinear maps compares them at every cell:

$$L_3^j(x, y) = h_v(x, y)^\top M^j h_a + \mu^j \qquad (5)$$

Below, the same computation with `einsum` from the library module's own weights, then the final
bilinear upsampling to the input size, checked against what the library produced.
"""),
    code("""
import torch.nn.functional as F

loc = model.localization
x3, f_a, size = captured["loc_args"]                         # X^3 (B, C, T, h, w), f_a (B, 1024), (H, W)
mid = x3.shape[2] // 2
f_v = x3[:, :, mid - 1 : mid + 1].mean(dim=2) if model.config.visual_pool == "center" else x3.mean(dim=2)
U_v, b_v = loc.affine_visual.weight, loc.affine_visual.bias  # (D_h, C), (D_h,)
U_a, b_a = loc.affine_audio.weight, loc.affine_audio.bias    # (D_h, 1024), (D_h,)
M, mu = loc.bilinear.weight, loc.bilinear.bias               # (N_out, D_h, D_h), (N_out,)

with torch.no_grad():
    h_v = torch.relu(torch.einsum("dc,bchw->bhwd", U_v, f_v) + b_v)              # eq. 3, every cell
    h_a = torch.relu(f_a @ U_a.T + b_a)                                          # eq. 3, one per clip
    L_grid = torch.einsum("bhwi,kij,bj->bkhw", h_v, M, h_a) + mu[:, None, None]  # eq. 5
    L_up = F.interpolate(L_grid, size=size, mode="bilinear", align_corners=False)

for name, t in [("X^3", x3), ("f_v", f_v), ("f_a", f_a), ("h_v", h_v), ("h_a", h_a), ("M", M),
                ("L at the conv3 grid", L_grid), ("L upsampled", L_up)]:
    print(f"{name:>20}: {tuple(t.shape)}")
print(f"conv3 grid of this network: {L_grid.shape[-2]}x{L_grid.shape[-1]} cells for "
      f"{model.config.sample_size}x{model.config.sample_size} px input (the paper's: 14x14 at 112 px)")
# float32 sums of D_h x D_h products: their rounding error grows with the sum of |terms|, not with |L|
scale = float(torch.einsum("bhwi,kij,bj->bkhw", h_v.abs(), M.abs(), h_a.abs()).max()) + float(mu.abs().max())
assert torch.allclose(L_up, captured["L"], rtol=1e-4, atol=1e-5 * scale), "eq. 5 by hand differs from the library"
print("eq. 3 + eq. 5 by hand == stavis_lib's Localization: True")
"""),
    md(r"""
## 4 · The fusion by hand (§3.4): $S_3^{av} = W_{cat} * (V \,|\, L) + \beta_{av}$

$W_{cat}$ is a 1×1 convolution over the concatenation of the 64 visual feature maps $V$ (the DSAM
saliency features $S^1..S^4$) and the $N_{out}$ localization maps $L$. Splitting $W_{cat}$ into its
$V$ part and its $L$ part shows how the sound enters: $S_3^{av} = W_V \cdot V + W_L \cdot L + \beta_{av}$,
and only $L$ depends on the sound.
"""),
    code("""
s_v, V, L = captured["fusion_args"]
W = model.fusion.cat_conv.weight[:, :, 0, 0]              # (1, 64 + N_out): W_cat
beta = model.fusion.cat_conv.bias                          # (1,): beta_av
with torch.no_grad():
    S_av = torch.einsum("oc,bchw->bohw", W, torch.cat([V, L], dim=1)) + beta[:, None, None]
    scale = float(torch.einsum("oc,bchw->bohw", W.abs(), torch.cat([V, L], dim=1).abs()).max() + beta.abs().max())
print("V", tuple(V.shape), "L", tuple(L.shape), "W_cat", tuple(W.shape), "-> S^av", tuple(S_av.shape))
assert torch.allclose(S_av, out.saliency, rtol=1e-4, atol=1e-5 * scale), "S3 by hand differs from the library"
print("S3 by hand == the network's final map: True")
W_V, W_L = W[0, : V.shape[1]], W[0, V.shape[1] :]
print(f"weight norms after training: |W_V| = {W_V.norm():.3f}, |W_L| = {W_L.norm():.3f}")
"""),
    md(r"""
## 5 · Localization maps at their native grid

The maps $L^j$ of the clip above, one block per conv3 cell, over the frame (the network sees the
frame squeezed to a square; the grid is stretched back to the frame). The dashed box is the object
that sounds at this frame. Left: the mean over the $N_{out}$ maps; then the maps with the largest
spatial spread, on one shared colour scale. The fusion does not use the mean: it weighs every map
by its own $W_L$ entry (section 4), so the mean is only a summary; what the maps add to the final
map is shown in section 6.
"""),
    code("""
label = f"{src.name} sounds" if src else "silence"
viz.plot_localization_maps(item["display"], L_grid[0], n_maps=6, box=src.box if src else None,
                           box_label=src.name if src else None,
                           title=f"{video}, frame {frame}: localization maps L^j ({label})");
"""),
    md(r"""
## 6 · What the sound changes: AV(true sound) - AV(silence)

The same frames with their soundtrack and with silence (an all-zero waveform). Since $V$ does not
depend on the sound, the difference of the logits is exactly $W_L \cdot (L_{true} - L_{silence})$;
below, the difference of the maps $\sigma(S^{av})$, red where the sound raises the map.
"""),
    code("""
effect = viz.sound_effect(model.to(tut.device), item["frames"][None].to(tut.device), item["audio"][None].to(tut.device))
viz.plot_sound_effect(item["display"], effect, box=src.box if src else None, box_label=src.name if src else None,
                      title=f"{video}, frame {frame} ({label}): the final map with and without the sound");
if src:
    inside = viz.mean_in_box(effect.difference[0], src.box, item["display"].shape[:2])
    print(f"mean difference inside the sounding object's box: {inside:+.4f}; "
          f"over the whole frame: {effect.difference[0].mean():+.4f}")
"""),
    md(r"""
## 7 · A whole test video: visual-only vs audio-visual

The first test video of split 1, with every frame predicted by the test path (a sliding window,
one map per frame). Top: one frame late in each sound burst (up to four), titled with the object
that sounds, and one frame of silence; rows: the ground truth, the visual-only network (notebook 02), the audio-visual network and the
mean localization map. Bottom: NSS per frame (eq. 10 as a metric), the sound bursts shaded as in
the paper's Figs. 4-5, with the audio-visual network also fed silence.
"""),
    code("""
bv = tut.synthetic_browser_video(video, {"visual-only": visual, "audio-visual": model})
bursts = viz.sound_bursts(gaze)
columns = {min(bv.n_frames - 1, int((s + 0.7 * (e - s)) * bv.fps)): f"{name} sounds" for s, e, name in bursts[:4]}
quiet = np.flatnonzero(np.asarray(gaze["sounding"])[: bv.n_frames] < 0)
if len(quiet):
    columns[int(quiet[len(quiet) // 2])] = "silence"
idx = sorted(columns)
viz.plot_saliency_rows(bv.frames, {k: bv.maps[k] for k in ("ground truth", "visual-only", "audio-visual", "localization")},
                       fixations=bv.fixations, frame_indices=idx, labels=[f"{i / bv.fps:.1f} s: {columns[i]}" for i in idx]);
curves = {**bv.nss, "audio-visual, silence": tut.silent_nss(video, model, bv.fps)}
viz.plot_nss_over_time(curves, bv.fps, bursts=bursts, title=f"NSS over time, {video}");
"""),
    md(r"""
## 8 · Visual-only vs audio-visual on held-out videos

Both networks scored on the same test videos of split 1 with the same protocol as in notebook 02.
"""),
    code("""
res_v = tut.evaluate(visual, "visual-only")
res_av = tut.evaluate(model, "audio-visual", baselines=False, human=False)
scores = viz.metrics_table([res_v.datasets, res_av.datasets])
scores
"""),
    md(r"""
## 9 · Does the model use the sound?

The audio-dependence test scores the audio-visual model (a) with the true soundtrack, (b) with
silence and (c) with the soundtrack of another test video (each video gets the next one's sound).
Negative deltas of CC / NSS / AUC / SIM mean that the sound drives the prediction; deltas near 0
would mean the "audio-visual" network ignores its audio.
"""),
    code("""
dep = tut.audio_dependence(model, "audio-visual")
dep
"""),
    md(r"""
## Exercises

**Exercise 1.** Swap the sound of one clip. Keep the frames of the clip `item` above but give it the
audio window of a frame where *another* object sounds: pick a burst `(s, e, name)` of `bursts` with
`name != src.name`, take `other = tut.clip(video, frame=f)` for a frame `f` late in that burst, and
compare `viz.sound_effect(model, item["frames"][None], other["audio"][None])` with `effect`. Measure
the difference inside both objects' boxes at the clip's frame with `viz.mean_in_box` (the other
object's box at `frame` is `gaze["boxes"][viz.sounding_object(gaze, f).index, frame]`).

*What you should observe:* the raised region follows the sound, not the frames: with the other
object's sound the difference map rises on that object and stays near 0 on the object that really
sounds. (Checked on one clip of each of 8 test videos with a network trained by the CPU preset: in
every clip the swapped sound raised the map more inside the other object's box than inside the
true source's box, where the true sound had raised it.)

**Exercise 2.** A rectangular instead of a Hann audio window (§3.2). The library weights each
clip's excerpt with a Hann window (`stavis_lib.data.audio.clip_audio`). Undo the weighting: the
window itself, at the same place in the 35 280 samples, is
`hann = clip_audio(np.ones(n_samples), rate, fps, first, last)`, where `first, last` are the clip's
first and last frames (`stavis_lib.data.clips.window_indices(n_frames, T)[frame]`) and `n_samples`,
`rate` those of the soundtrack (`ReleaseLayout(tut.data_root).read_audio("Synthetic", video)`);
then `rect = np.where(hann > 0, item["audio"].numpy() / np.where(hann > 0, hann, 1), 0)`. Feed
`rect` to `viz.sound_effect` and compare its difference map with the Hann one (`np.corrcoef`).

*What you should observe:* the same sound, cut differently, changes the maps: the network has only
heard Hann-weighted excerpts, and the abrupt edges of a rectangular cut are new to it. On some clips
the rise on the sounding object survives, on others it shrinks or vanishes (on the 8 clips of
exercise 1, the correlation of the two difference maps ranged from about -0.4 to 0.99).

Notebook **04** trains every variant of the paper's Table 1 with the same budget (e.g. $L_1$, the
cosine similarity, against $L_3$); notebook **05** browses the predictions interactively.
"""),
]
