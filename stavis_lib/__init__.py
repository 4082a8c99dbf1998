"""stavis — STAViS (Tsiami, Koutras, Maragos, CVPR 2020) in modern PyTorch.

Public entry points are imported lazily so that ``import stavis_lib`` stays cheap
(the command line and the notebooks import only what they use).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_model": "stavis_lib.config",
    "ModelConfig": "stavis_lib.config",
    "VARIANTS": "stavis_lib.config",
    "predict_video": "stavis_lib.inference",
    "metrics": "stavis_lib.metrics",
    "losses": "stavis_lib.losses",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'stavis_lib' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
