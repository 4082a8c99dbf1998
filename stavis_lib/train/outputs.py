"""Files a training run writes: atomic checkpoints, CSV logs and the loss-curve figure."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from stavis_lib.train.init import unwrap


def save_training_checkpoint(path: Path, model: nn.Module, **extra: Any) -> None:
    """Atomic checkpoint (``checkpoints.save_checkpoint``: tmp + os.replace); loads with
    ``checkpoints.load_checkpoint`` like any model checkpoint."""
    from stavis_lib.model import checkpoints

    checkpoints.save_checkpoint(path, unwrap(model), **extra)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def plot_loss_curves(steps: list[dict[str, Any]], epochs: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Training loss per step and validation CC/NSS per epoch (matplotlib, Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    if steps:
        x = np.arange(1, len(steps) + 1)
        y = np.array([s["loss"] for s in steps], dtype=float)
        ax1.plot(x, y, lw=0.8, alpha=0.5, label="loss (step)")
        k = max(1, len(y) // 25)
        if len(y) >= k > 1:
            ax1.plot(x[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), lw=1.6, label=f"mean of {k}")
        ax1.set_xlabel("optimiser step")
        ax1.set_ylabel("loss")
        ax1.legend(loc="upper right", fontsize=8)
    ax1.set_title(f"{title} training loss".strip())
    val = [e for e in epochs if e.get("val_nss") is not None and not math.isnan(e["val_nss"])]
    if val:
        ax2.plot([e["epoch"] for e in val], [e["val_nss"] for e in val], "o-", label="NSS")
        ax3 = ax2.twinx()
        ax3.plot([e["epoch"] for e in val], [e["val_cc"] for e in val], "s--", color="tab:orange", label="CC")
        ax3.set_ylabel("CC")
        ax2.set_ylabel("NSS")
        ax2.legend(loc="upper left", fontsize=8)
        ax3.legend(loc="lower right", fontsize=8)
    ax2.set_xlabel("epoch")
    ax2.set_title("validation")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    return path

