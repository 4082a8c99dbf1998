"""The paper's reference numbers (Table 1: the ablation over the six real databases) and our
ablation results in the same layout, side by side and as bar plots.

Metric keys and labels are those of :mod:`stavis_lib.metrics` (:data:`~stavis_lib.metrics.PAPER_METRICS`,
:data:`~stavis_lib.metrics.METRIC_LABELS`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stavis_lib.metrics import METRIC_LABELS, PAPER_METRICS

__all__ = ["TABLE1_LABELS", "PAPER_TABLE1", "paper_table1", "ablation_table", "table1_side_by_side",
           "plot_ablation"]


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


def plot_ablation(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = ("cc", "nss", "sim"), paper: bool = True):
    """Seaborn bar plots of the ablation: one panel per metric, our numbers (and, with
    ``paper=True``, the paper's Table 1 beside them as a second hue, clearly labelled)."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    recs = []
    for v, vals in results.items():
        vals = {k: x for k, x in vals.items() if _is_number(x)}
        for m in metrics:
            if m in vals:
                recs.append({"variant": TABLE1_LABELS.get(v, v), "metric": METRIC_LABELS.get(m, m), "value": float(vals[m]), "source": "ours (synthetic)"})
            if paper and v in PAPER_TABLE1:
                recs.append({"variant": TABLE1_LABELS[v], "metric": METRIC_LABELS.get(m, m), "value": PAPER_TABLE1[v][m], "source": "paper (real data)"})
    df = pd.DataFrame(recs)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 0.35 * max(4, len(results)) + 1.5), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        sub = df[df.metric == METRIC_LABELS.get(m, m)]
        sns.barplot(data=sub, y="variant", x="value", hue="source", ax=ax, orient="h")
        ax.set_title(METRIC_LABELS.get(m, m), fontsize=10)
        ax.set_ylabel("")
        handles, labels = ax.get_legend_handles_labels()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig

