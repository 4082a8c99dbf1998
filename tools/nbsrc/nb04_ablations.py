"""Notebook 04 · ablations: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, code, common, md, overview

# ======================================================================================
# 04 ablations
# ======================================================================================
OVERVIEW = overview(
    learn=["what each row of the paper's Table 1 changes: the localization ($L_1$, $L_2$, $L_3$, one or "
           "$N_{out}$ maps) and the fusion ($S_1^{av}$, $S_2^{av}$, $\\tilde S_2^{av}$, $S_3^{av}$, $S_{fus}^{av}$)",
           "how to run an ablation fairly: every row from the same stage-1 weights, with the same recipe and budget",
           "how to compare numbers measured on different data: separate axes and ranks, not one bar axis"],
    cpu="not measured", gpu="not measured", smoke="about 4.5 min after notebooks 01-03")

RECAP = """
**So far.** Notebook 01 generated the synthetic benchmark (3-4 objects, one sounding at a time,
viewers that turn to the sound after about a quarter of a second). Notebook 02 trained the
visual-only network (stage 1, eq. 6) on it, and notebook 03 trained the proposed audio-visual
network $L_3^{mul}$-$S_3^{av}$ from those weights (stage 2, eq. 7) and tested whether it uses the
sound. This notebook trains every row of the paper's Table 1, Visual and the proposed one included,
from those stage-1 weights with one shared budget.
""".strip()

CELLS = [
    md(f"""
# 04 · Ablations: every variant of Table 1

{OVERVIEW}

{RECAP}

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
preset with `tut.sizes.ablation_train` (the same steps, batch, learning rates and schedule; on a
CPU 2 epochs of 75 steps of 8 clips per row, on a GPU 2 epochs of 60 steps of 32 clips). The
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
    md("""
## Ours and the paper's, each on its own axis

Our numbers (synthetic benchmark, the budget above) and the paper's (real data, full training) are
on different scales, so each gets its own panel: compare the *order* of the rows within a panel,
not the lengths across panels.
"""),
    code("""
viz.plot_ablation(results, metrics=("cc", "nss"));
"""),
    md("""
## Ranks

The same comparison as ranks among the rows that ran here (1 = best), ours against the paper's,
with the Spearman rank correlation: 1 when both order the rows alike, about 0 when the orders are
unrelated, -1 when reversed.
"""),
    code("""
ranks = viz.ablation_ranks(results, ("cc", "nss", "sim"))
display(ranks)
viz.plot_ablation_ranks(results, "nss");
"""),
    md(r"""
**Reading it.** On the synthetic benchmark the sound decides which object is looked at, so the
visual row cannot know which object to prefer, while the rows that localize the sound can. Whether
a given row beats another after this short budget is what the table and the ranks above show; the
text makes no claim about it. With the `SMOKE` budget the numbers are noise.

**Exercise 1.** Count the parameters of every row by part:
`pd.DataFrame({v: tut.build(v).parameter_parts() for v in variants}).T`, and add a `total` column.

*What you should observe (CPU network, 3D ResNet-10 of width 16):* the Visual row has about
0.61 M parameters. Every audio-visual row adds SoundNet's 2.87 M (part `sound`), and the
localization adds 0.14-0.15 M for one map but 1.18 M for the 64 bilinear maps of the
$L_3^{mul}$ rows (64 matrices $M^j$ of 128 × 128 alone are 1.05 M). The fusions differ by at most
a few hundred parameters, so the fusion rows differ in how they combine the maps, not in size.
(On a GPU the full-size visual network is much larger; the audio and localization parts are the
same.)

**Exercise 2.** Rank the paper's own rows by every metric:
`viz.ablation_ranks(viz.PAPER_TABLE1, ("cc", "nss", "auc_judd", "auc_shuffled", "sim"))` (ranking
the paper against itself, so the two columns of a metric agree).

*What you should observe:* the proposed $L_3^{mul}$-$S_3^{av}$ is first by CC, NSS, AUC-J and
sAUC but only fourth by SIM (behind $L_3^{mul}$-$S_{fus}^{av}$, $L_3$-$S_1^{av}$ and
$L_2$-$S_1^{av}$), and the three $S_2^{av}$ rows are last by CC, NSS, AUC-J and SIM (SIM about 0.30
against at least 0.40 for every other row). The whole table spans only 2.43-2.73 in NSS: the
paper's rows are close to each other, which is one more reason to compare orders rather than
values.
"""),
]
