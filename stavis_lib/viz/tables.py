"""Result tables of the notebooks: the overall row of an evaluation, a method x metric table,
and the folders of a release layout."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stavis_lib.metrics import METRIC_LABELS, METRICS

__all__ = ["overall_metrics", "metrics_table", "layout_summary"]


def overall_metrics(datasets: Any, method: str) -> dict[str, float]:
    """The ``ALL`` row of an ``evaluate`` datasets table for one method, as a dict of metrics
    (the dataset row itself when there is no ``ALL`` row)."""
    df = datasets[datasets["method"] == method]
    if df.empty:
        raise KeyError(f"method {method!r} not in the table (have {sorted(set(datasets['method']))})")
    row = df[df["dataset"] == "ALL"] if (df["dataset"] == "ALL").any() else df
    return {m: float(row.iloc[0][m]) for m in METRICS if m in row.columns}


def metrics_table(datasets: Any, methods: Sequence[str] | None = None) -> Any:
    """A compact method x metric table (overall rows) from one or more ``evaluate`` datasets
    tables, in the paper's metric order with its column labels."""
    import pandas as pd

    frames = datasets if isinstance(datasets, pd.DataFrame) else pd.concat(list(datasets), ignore_index=True)
    names = list(dict.fromkeys(frames["method"])) if methods is None else list(methods)
    rows = {name: overall_metrics(frames, name) for name in names}
    table = pd.DataFrame.from_dict(rows, orient="index")
    cols = [c for c in METRICS if c in table.columns]
    table = table[cols].rename(columns=METRIC_LABELS)
    table.index.name = "method"
    return table


def layout_summary(root: str | Path):
    """Folders of a release-layout root with their number of files (a DataFrame)."""
    import pandas as pd

    root = Path(root)
    rows = []
    for top in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [f for f in top.rglob("*") if f.is_file()]
        kinds = sorted({f.suffix for f in files})
        example = min(files, key=lambda f: str(f)) if files else None
        rows.append({"folder": top.name + "/", "files": len(files), "types": " ".join(kinds),
                     "example": str(example.relative_to(root)) if example else ""})
    return pd.DataFrame(rows).set_index("folder")

