"""Notebook 04 · ablations: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, STAVIS_IN_BRIEF, code, common, md  # noqa: F401

# ======================================================================================
# 04 ablations
# ======================================================================================
CELLS = [
    md(f"""
# 04 · Ablations: every variant of Table 1

{STAVIS_IN_BRIEF}

The paper's Table 1 compares the localization methods and the fusion schemes:

| rows | localization | fusion |
|---|---|---|
| Visual | none | $S^v$ only |
| $L_i$ AudioOnly | $L_1$ cosine, $L_2$ eq. 4, $L_3$ eq. 5 | the audio map alone |
| $L_i$-$S_1^{{av}}$ | one map | $S_1^{{av}} = w_v \\sigma(S^v) + w_a \\sigma(S^a)$ |
| $L_i$-$S_2^{{av}}$ | one map | $S_2^{{av}} = \\sigma(S^v) \\odot (1 + \\sigma(S^a))$ |
| $L_3^{{mul}}$-$\\tilde S_2^{{av}}$ | $N_{{out}}$ maps | $\\tilde S_2^{{av,j}} = \\sigma(V^j) \\odot (1 + \\sigma(L^j))$, then a 1×1 conv |
| $L_3^{{mul}}$-$S_3^{{av}}$ (proposed) | $N_{{out}}$ maps | $W_{{cat}} * (V \\mid L) + \\beta_{{av}}$ |
| $L_3^{{mul}}$-$S_{{fus}}^{{av}}$ | $N_{{out}}$ maps | $\\tilde w_v \\sigma(S^v) + \\tilde w_a \\sigma(S^a) + w_{{av}} \\sigma(S^3)$ |

Here every row, **Visual included**, starts from the same stage-1 weights (the checkpoint of
`runs/visual`, trained here if absent) and is trained with the same recipe and budget: the stage-2
preset with `tut.sizes.ablation_train` (the same steps, batch, learning rates and schedule). The
Visual row keeps training the visual-only network with its loss (eq. 6); the other rows train the
whole audio-visual network (eq. 7). Each run saves what it used in `runs/ablation_<variant>/train_config.json`.
No row picks a best epoch (`val_every=0`): every row is scored with its weights at the end of the
same budget, on the same held-out test videos of split 1. Our numbers come from the synthetic benchmark and a small budget; the paper's
come from six real databases and full training, so only the *ordering* is worth comparing.

{MODES}
"""),
    *common('VARIANTS = None   # None: all 13 rows of Table 1 (SMOKE: six of them); or e.g. ["visual", "L3mul_S3"]\n'
            'RETRAIN = False   # True: train every variant again'),
    code("""
from stavis_lib.config import VARIANTS as ALL_VARIANTS

variants = list(VARIANTS or tut.sizes.ablation_variants or ALL_VARIANTS)
print(f"{len(variants)} of {len(ALL_VARIANTS)} variants, budget per variant: {tut.sizes.ablation_train}")
results = tut.ablation(variants, retrain=RETRAIN)
"""),
    md("""
## Our table, in the paper's layout

Means over the held-out videos of split 1 (CC, NSS, AUC-Judd, shuffled AUC, SIM; higher is better).
"""),
    code("""
ours = viz.ablation_table(results)
ours
"""),
    md("""
## Side by side with the paper's Table 1

⚠️ The right-hand block is **the paper's own numbers** (Table 1 of Tsiami et al., CVPR 2020: the
mean over the six real eye-tracking databases and three splits, full training from Kinetics and
SoundNet weights). It is printed for reference and is **not** a result of this notebook.
"""),
    code("""
viz.table1_side_by_side(results)
"""),
    code("""
viz.plot_ablation(results, metrics=("cc", "nss", "sim"));
"""),
    md("""
**Reading it.** On the synthetic benchmark the sound decides which object is looked at, so every
variant that localizes the sound should beat the visual row, and the more expressive bilinear
localization ($L_3$) with many maps should do best, as in the paper. With the SMOKE budget the
numbers are noise.
"""),
]
