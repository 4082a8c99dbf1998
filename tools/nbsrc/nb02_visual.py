"""Notebook 02 · stage 1, visual-only training: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, STAVIS_IN_BRIEF, code, common, md  # noqa: F401

# ======================================================================================
# 02 visual-only training
# ======================================================================================
CELLS = [
    md(f"""
# 02 · Stage 1: the spatio-temporal visual network (§3.1, eq. 6)

{STAVIS_IN_BRIEF}

This notebook trains **stage 1**, the visual-only network, with *deep supervision*: the final visual
map $S^v$ and the four DSAM activations $A^m$ are all compared with the ground truth,

$$\\mathcal{{L}}_v(\\mathbf{{W}}_v) = \\mathcal{{D}}(\\sigma(S^v), Y_{{sal}}) + \\sum_{{m=1}}^{{4}} \\mathcal{{D}}(\\sigma(A^m), Y_{{sal}}) \\qquad (6)$$

with $\\mathcal{{D}} = w_1 \\mathcal{{D}}_{{CE}} + w_2 \\mathcal{{D}}_{{CC}} + w_3 \\mathcal{{D}}_{{NSS}}$,
$(w_1, w_2, w_3) = (0.1, 2, 1)$ (eq. 11): cross-entropy with the dense map (eq. 8), minus the
correlation coefficient with the dense map (eq. 9) and minus the mean standardised prediction at the
fixations (eq. 10). The paper starts from Kinetics-400 weights; here the network learns from
scratch on the synthetic benchmark (pass `kinetics_weights=` to `train` to start from Hara et
al.'s file when you have it).

{MODES}
"""),
    *common("RETRAIN = False   # True: train again even if the checkpoint exists"),
    md("## 1 · The network"),
    code("""
net = tut.build("visual")
print(net.config)
print({part: f"{n:,}" for part, n in net.parameter_parts().items()})
print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
"""),
    md(r"""
## 2 · Train (or load the checkpoint)

`tut.train_or_load` loads `runs/visual/best.pt` from the working folder if it exists; otherwise it
calls `stavis_lib.train.train` (SGD with momentum, the per-part learning rates of the official
code, gradient accumulation to the effective batch, a multi-step schedule, validation NSS after
every epoch, atomic checkpoints `last.pt` / `best.pt`, CSV logs) and loads the best weights.

**Validation videos are generated apart.** The validation NSS that picks `best.pt` is measured on
`tut.sizes.n_val_videos` synthetic videos generated with another seed into another folder
(`validation/` in the working folder), as `python -m stavis_lib demo` does; the test videos of
split 1 used below are held out from training *and* from model selection (the official code
validated on its test fold).
"""),
    code("""
model, result = tut.train_or_load("visual", "visual", "visual", retrain=RETRAIN)
if result is not None:
    print(f"trained {len(result.steps)} steps in {result.seconds:.0f} s; best epoch {result.best_epoch}, "
          f"validation score {result.best_score}")
"""),
    code("""
epochs, steps = tut.training_log("visual")
viz.plot_training_curves(steps, x="step", title="stage 1: training loss per step (eq. 6)");
if "val_nss" in epochs.columns or "val_cc" in epochs.columns:
    viz.plot_training_curves(epochs, x="epoch", title="stage 1: per epoch");
epochs.tail()
"""),
    md(r"""
## 3 · DSAM attention at the four levels

The attention maps $M^m$ (eq. 2) are spatial softmaxes: each sums to 1 over its grid, which
shrinks from level to level (the trunk halves the resolution). After training they concentrate on
the objects; the final map $S^v$ combines the four levels' saliency features.
"""),
    code("""
item = tut.clip()
out = tut.forward(model, item)
print("attention grids:", [tuple(a.shape[-2:]) for a in out.attention],
      "sums:", [round(float(a[0].sum()), 4) for a in out.attention])
viz.plot_dsam_attention(item["display"], [a[0, 0] for a in out.attention],
                        saliency=torch.sigmoid(out.saliency[0, 0]), title=f"{item['video']}, frame {item['frame']}");
"""),
    md(r"""
## 4 · Held-out videos

The test videos of split 1, which neither training nor model selection has seen. `evaluate_split` runs the test path of the paper (a 16-frame sliding window with step 1, one map per
frame), post-processes each map as the official MATLAB evaluation did (Gaussian blur σ = 2, resize
to the ground-truth size) and scores CC, NSS, AUC-Judd, shuffled AUC and SIM per frame, averaged per
video, then over the test videos (pooled, as the official scripts do for every dataset but DIEM). The reference lines are a centre-bias Gaussian, the mean ground-truth map of
the training videos and the simulated humans (leave one viewer out).
"""),
    code("""
res = tut.evaluate(model, "visual-only")
viz.metrics_table(res.datasets)
"""),
    code("""
video = tut.test_videos(1)[0].name
bv = tut.synthetic_browser_video(video, {"visual-only": model})
idx = np.linspace(0, bv.n_frames - 1, 5).astype(int)
viz.plot_saliency_rows(bv.frames, {"ground truth": bv.maps["ground truth"], "visual-only": bv.maps["visual-only"]},
                       fixations=bv.fixations, frame_indices=idx);
viz.plot_nss_over_time(bv.nss, bv.fps, title=f"NSS over time, {video}");
"""),
    md("""
A visual-only network can at best split its bet between the moving objects: it cannot know which
one sounds. Notebook **03** adds the sound.
"""),
]
