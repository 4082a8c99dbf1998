"""The paper's reference numbers (Table 1: the ablation over the six real databases) and our
ablation results in the same layout: side by side as tables, as dot plots on separate value
axes, and as ranks (the two come from different data, so only their orderings compare).

Metric keys and labels are those of :mod:`stavis_lib.metrics` (:data:`~stavis_lib.metrics.PAPER_METRICS`,
:data:`~stavis_lib.metrics.METRIC_LABELS`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stavis_lib.metrics import METRIC_LABELS, PAPER_METRICS

__all__ = ["TABLE1_LABELS", "PAPER_TABLE1", "paper_table1", "ablation_table", "table1_side_by_side",
           "ablation_ranks", "plot_ablation", "plot_ablation_ranks"]


#: Row labels of Table 1, keyed by the variant names of ``stavis_lib.config.VARIANTS``.
TABLE1_LABELS: dict[str, str] = {
    "visual": "Visual",
    "L1_audio_only": "L1 AudioOnly",
    "L2_audio_only": "L2 AudioOnly",
    "L3_audio_only": "L3 AudioOnly",
    "L1_S1": "L1 - S1av",
    "L2_S1": "L2 - S1av",
    "L3_S1": "L3 - S1av",
    "L1_S2": "L1 - S2av",
    "L2_S2": "L2 - S2av",
    "L3_S2": "L3 - S2av",
    "L3mul_S2tilde": "L3mul - S~2av",
    "L3mul_S3": "L3mul - S3av (proposed)",
    "L3mul_Sfus": "L3mul - Sfusav",
}

#: Table 1 of Tsiami, Koutras, Maragos (CVPR 2020): ablation over all six real databases
#: (DIEM, Coutrot1, Coutrot2, AVAD, SumMe, ETMD), averaged over the three splits.
#: These are the paper's numbers on real eye-tracking data, copied from the paper; they
#: are printed next to ours for reference only and are not comparable with numbers
#: measured on the synthetic benchmark.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "visual": {"cc": 0.5260, "nss": 2.54, "auc_judd": 0.8922, "auc_shuffled": 0.6187, "sim": 0.4088},
    "L1_audio_only": {"cc": 0.5132, "nss": 2.48, "auc_judd": 0.8923, "auc_shuffled": 0.6220, "sim": 0.4100},
    "L2_audio_only": {"cc": 0.5381, "nss": 2.63, "auc_judd": 0.8969, "auc_shuffled": 0.6171, "sim": 0.4157},
    "L3_audio_only": {"cc": 0.5226, "nss": 2.59, "auc_judd": 0.8935, "auc_shuffled": 0.6228, "sim": 0.4027},
    "L1_S1": {"cc": 0.5243, "nss": 2.62, "auc_judd": 0.8924, "auc_shuffled": 0.6224, "sim": 0.4103},
    "L2_S1": {"cc": 0.5344, "nss": 2.69, "auc_judd": 0.8944, "auc_shuffled": 0.6215, "sim": 0.4249},
    "L3_S1": {"cc": 0.5354, "nss": 2.71, "auc_judd": 0.8959, "auc_shuffled": 0.6236, "sim": 0.4278},
    "L1_S2": {"cc": 0.5069, "nss": 2.43, "auc_judd": 0.8687, "auc_shuffled": 0.6223, "sim": 0.2985},
    "L2_S2": {"cc": 0.5082, "nss": 2.44, "auc_judd": 0.8699, "auc_shuffled": 0.6225, "sim": 0.2996},
    "L3_S2": {"cc": 0.5066, "nss": 2.46, "auc_judd": 0.8622, "auc_shuffled": 0.6219, "sim": 0.2981},
    "L3mul_S2tilde": {"cc": 0.5271, "nss": 2.56, "auc_judd": 0.8943, "auc_shuffled": 0.6242, "sim": 0.4132},
    "L3mul_S3": {"cc": 0.5414, "nss": 2.73, "auc_judd": 0.8983, "auc_shuffled": 0.6267, "sim": 0.4241},
    "L3mul_Sfus": {"cc": 0.5401, "nss": 2.70, "auc_judd": 0.8979, "auc_shuffled": 0.6261, "sim": 0.4290},
}


def paper_table1():
    """The paper's Table 1 (real databases, overall) as a DataFrame in the paper's layout:
    one row per variant label, columns CC, NSS, AUC-J, sAUC, SIM."""
    import pandas as pd

    rows = {TABLE1_LABELS[v]: {METRIC_LABELS[m]: PAPER_TABLE1[v][m] for m in PAPER_METRICS} for v in TABLE1_LABELS}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method (paper, real data)"
    return df


def ablation_table(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = PAPER_METRICS):
    """Our ablation results in the paper's Table-1 layout.

    ``results`` maps a variant name (a key of ``TABLE1_LABELS``; other names are appended at
    the end under their own name) to a dict of metric values keyed by the
    :data:`~stavis_lib.metrics.METRICS` names (other entries are ignored). Missing metrics are NaN."""
    import pandas as pd

    order = [v for v in TABLE1_LABELS if v in results] + [v for v in results if v not in TABLE1_LABELS]
    rows = {}
    for v in order:
        vals = {k: float(x) for k, x in results[v].items() if _is_number(x)}
        rows[TABLE1_LABELS.get(v, v)] = {METRIC_LABELS.get(m, m): vals.get(m, np.nan) for m in metrics}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method"
    return df


def _is_number(x: Any) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def table1_side_by_side(results: Mapping[str, Mapping[str, float]], ours_label: str = "ours (synthetic benchmark)"):
    """Our ablation table and the paper's Table 1 side by side: two column groups, rows in the
    paper's order (a variant missing on one side shows NaN there)."""
    import pandas as pd

    paper_label = "paper Table 1 (real eye-tracking data, 6 databases)"
    both = pd.concat([ablation_table(results), paper_table1()], axis=1, keys=[ours_label, paper_label])
    labels = list(TABLE1_LABELS.values())
    both = both.reindex([r for r in labels if r in both.index] + [r for r in both.index if r not in labels])
    both.index.name = "method"
    return both


def _metric_values(results: Mapping[str, Mapping[str, float]], metric: str) -> dict[str, float]:
    """Variant -> our value of ``metric`` (variants without a number for it are left out)."""
    return {v: float(vals[metric]) for v, vals in results.items() if metric in vals and _is_number(vals[metric])}


def ablation_ranks(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = ("cc", "nss", "sim")):
    """Ranks (1 = best, higher scores rank first) of the Table-1 variants present in ``results``,
    ours and the paper's, ranked among those same variants, per metric: a DataFrame indexed
    by the paper's row labels with columns (metric label, "ours" | "paper"). Ties share the
    lowest rank. Variants that the paper has no row for are left out."""
    import pandas as pd

    columns = {}
    for m in metrics:
        ours = _metric_values(results, m)
        common = [v for v in TABLE1_LABELS if v in ours and v in PAPER_TABLE1]
        label = METRIC_LABELS.get(m, m)
        columns[(label, "ours")] = pd.Series({TABLE1_LABELS[v]: ours[v] for v in common})
        columns[(label, "paper")] = pd.Series({TABLE1_LABELS[v]: PAPER_TABLE1[v][m] for v in common})
    table = pd.DataFrame(columns).rank(ascending=False, method="min").astype("Int64")
    table = table.reindex([r for r in TABLE1_LABELS.values() if r in table.index])
    table.index.name = "method"
    return table


def _dot_panel(ax: Any, labels: Sequence[str], values: Sequence[float], color: str, title: str) -> None:
    """One horizontal dot plot with its own value axis (rows top to bottom in ``labels`` order)."""
    y = np.arange(len(labels))
    vals = np.asarray(values, dtype=np.float64)
    ax.hlines(y, np.nanmin(vals), vals, color=color, alpha=0.35, lw=2)
    ax.plot(vals, y, "o", color=color, ms=6)
    span = max(float(np.nanmax(vals) - np.nanmin(vals)), 1e-6)
    ax.set_xlim(np.nanmin(vals) - 0.08 * span, np.nanmax(vals) + 0.25 * span)
    for yi, v in zip(y, vals):
        if np.isfinite(v):
            ax.annotate(f"{v:.3g}", (v, yi), xytext=(5, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def plot_ablation(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = ("cc", "nss"), paper: bool = True):
    """Our ablation and the paper's Table 1 on SEPARATE value axes: one row per metric, our
    numbers on the left and (``paper=True``) the paper's on the right, each panel scaled to its
    own values (dot plots: the scales differ, so bar lengths are never compared across them).
    Both panels show the variants of ``results``, in the paper's order; a variant without a
    paper row appears on the left only."""
    import matplotlib.pyplot as plt

    order = [v for v in TABLE1_LABELS if v in results] + [v for v in results if v not in TABLE1_LABELS]
    n_cols = 2 if paper else 1
    fig, axes = plt.subplots(len(metrics), n_cols, figsize=(10, (0.26 * max(4, len(order)) + 1.0) * len(metrics)),
                             squeeze=False)
    for row, m in zip(axes, metrics):
        label = METRIC_LABELS.get(m, m)
        ours = _metric_values(results, m)
        mine = [v for v in order if v in ours]
        _dot_panel(row[0], [TABLE1_LABELS.get(v, v) for v in mine], [ours[v] for v in mine], "tab:blue",
                   f"{label}: ours (synthetic benchmark)")
        if paper:
            theirs = [v for v in order if v in PAPER_TABLE1]
            _dot_panel(row[1], [TABLE1_LABELS[v] for v in theirs], [PAPER_TABLE1[v][m] for v in theirs], "tab:gray",
                       f"{label}: paper Table 1 (real data, not run here)")
    fig.tight_layout()
    return fig


def plot_ablation_ranks(results: Mapping[str, Mapping[str, float]], metric: str = "nss"):
    """Ranks of the variants by ``metric``, ours (left) against the paper's (right), one line per
    variant (1 = best), with the Spearman rank correlation in the title: the comparison that
    means something when the two sets of numbers come from different data."""
    import matplotlib.pyplot as plt

    label = METRIC_LABELS.get(metric, metric)
    ranks = ablation_ranks(results, (metric,))
    ours, theirs = ranks[(label, "ours")].astype(float), ranks[(label, "paper")].astype(float)
    n = len(ranks)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(n, 4) + 1.2))
    for name in ranks.index:
        a, b = ours[name], theirs[name]
        ax.plot([0, 1], [a, b], "o-", color="tab:green" if a == b else "0.55", lw=1.3)
        ax.text(-0.04, a, f"{name}  {int(a)}", ha="right", va="center", fontsize=8)
        ax.text(1.04, b, f"{int(b)}  {name}", ha="left", va="center", fontsize=8)
    rho = ours.corr(theirs, method="spearman") if n > 2 else float("nan")
    ax.set_xlim(-1.0, 2.0)
    ax.set_ylim(n + 0.6, 0.4)
    ax.axis("off")
    ax.text(0, 0.3, "ours (synthetic)", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.text(1, 0.3, "paper (real data)", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.set_title(f"rank by {label} (1 = best) among {n} variants; Spearman rank correlation {rho:.2f}", fontsize=10,
                 pad=18)
    fig.tight_layout()
    return fig
