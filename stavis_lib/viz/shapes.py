"""A table of the tensors that flow through a network: which module produced or received each
one, its shape and, for the STAViS network, the paper's name for it (Fig. 2, §3.1-3.4).

``shape_table(model, frames)`` registers forward hooks on the named modules, runs one forward
pass without gradients and removes the hooks again. A row is written for

* every input of a hooked module that no earlier row holds (the network's input ``frames``,
  the concatenation V that only exists inside ``Stavis.forward``, ...);
* every tensor output of a hooked module (tuples and lists give one row per element).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["STAVIS_MODULES", "STAVIS_SYMBOLS", "shape_table"]

#: The modules ``shape_table`` hooks by default, in the order of the forward pass: the 3D ResNet
#: trunk's blocks (the paper's conv1..conv4 are ``trunk.conv1`` and ``trunk.layer1..3``), the
#: four DSAM modules, the visual head, and the audio path when the network has one.
STAVIS_MODULES: tuple[str, ...] = (
    "trunk.conv1", "dsam.0", "trunk.maxpool", "trunk.layer1", "dsam.1", "trunk.layer2", "dsam.2",
    "trunk.layer3", "dsam.3", "visual_head", "audio", "localization", "fusion",
)


def _dsam_symbols(level: int) -> dict[tuple[str, str, int], str]:
    m = level + 1
    return {
        (f"dsam.{level}", "output", 0): f"X~^{m} = (1 + M^{m}) X^{m}  (eq. 1)",
        (f"dsam.{level}", "output", 1): f"S^{m} upsampled to the frame",
        (f"dsam.{level}", "output", 2): f"A^{m} upsampled (side output, eq. 6)",
        (f"dsam.{level}", "output", 3): f"M^{m} = softmax(A^{m})  (eq. 2)",
    }


#: Paper names of the tensors ``shape_table`` finds in a ``Stavis`` network, keyed by
#: (module, "input"/"output", position).
STAVIS_SYMBOLS: dict[tuple[str, str, int], str] = {
    ("trunk.conv1", "input", 0): "frames (B, 3, T, H, W)",
    ("trunk.conv1", "output", 0): "conv1 (before BN + ReLU)",
    ("dsam.0", "input", 0): "X^1 (conv1 + BN + ReLU)",
    **_dsam_symbols(0),
    ("trunk.maxpool", "output", 0): "max-pooled X~^1",
    ("trunk.layer1", "output", 0): "X^2",
    **_dsam_symbols(1),
    ("trunk.layer2", "output", 0): "X^3",
    **_dsam_symbols(2),
    ("trunk.layer3", "output", 0): "X^4",
    **_dsam_symbols(3),
    ("visual_head", "input", 0): "V = (S^1 | S^2 | S^3 | S^4)",
    ("visual_head", "output", 0): "S^v (logits)",
    ("audio", "input", 0): "audio waveform",
    ("audio", "output", 0): "f_a (eq. 3)",
    ("localization", "output", 0): "L (localization maps, eqs. 3-5)",
    ("fusion", "output", 0): "final map S (logits; S^v itself for the visual variant)",
}


def _tensors(value: Any) -> list[Any]:
    """The tensors of a module's input or output, in order (nested tuples/lists flattened)."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def shape_table(model: Any, *inputs: Any, modules: Sequence[str] | None = None,
                symbols: Mapping[tuple[str, str, int], str] | None = None, **kwargs: Any):
    """Run ``model(*inputs, **kwargs)`` once (no gradients) and tabulate the tensors that enter
    and leave ``modules``.

    ``modules``: names from ``model.named_modules()`` (default: those of ``STAVIS_MODULES``
    that the model has; a name the model lacks is a ``KeyError``). ``symbols``: a name for a
    row, keyed by (module, "input"/"output", position); default ``STAVIS_SYMBOLS``.
    Returns a ``pandas.DataFrame`` with the columns ``module``, ``tensor`` ("input k" /
    "output k"), ``symbol``, ``shape`` (a tuple) and ``parameters`` (of the module, on its
    first row), in the order the forward pass reached them.
    """
    import pandas as pd
    import torch

    named = dict(model.named_modules())
    if modules is None:
        modules = [m for m in STAVIS_MODULES if m in named]
    missing = [m for m in modules if m not in named]
    if missing:
        raise KeyError(f"shape_table: the model has no module {missing[0]!r}")
    symbols = STAVIS_SYMBOLS if symbols is None else symbols
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()  # ids of the tensors of earlier rows
    keep: list[Any] = []  # keeps those tensors alive, so that their ids are not reused

    def add(name: str, kind: str, k: int, t: Any) -> None:
        first = not any(r["module"] == name for r in rows)
        n_params = sum(p.numel() for p in named[name].parameters()) if first else None
        seen.add(id(t))
        keep.append(t)
        rows.append({"module": name, "tensor": f"{kind} {k}", "symbol": symbols.get((name, kind, k), ""),
                     "shape": tuple(t.shape), "parameters": n_params})

    def pre_hook(name: str):
        def hook(_module: Any, args: Any) -> None:
            for k, t in enumerate(_tensors(args)):
                if id(t) not in seen:
                    add(name, "input", k, t)
        return hook

    def post_hook(name: str):
        def hook(_module: Any, _args: Any, output: Any) -> None:
            for k, t in enumerate(_tensors(output)):
                add(name, "output", k, t)
        return hook

    handles = []
    try:
        for name in modules:
            handles.append(named[name].register_forward_pre_hook(pre_hook(name)))
            handles.append(named[name].register_forward_hook(post_hook(name)))
        with torch.no_grad():
            model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    table = pd.DataFrame(rows, columns=["module", "tensor", "symbol", "shape", "parameters"])
    table["parameters"] = table["parameters"].astype("Int64")
    return table
