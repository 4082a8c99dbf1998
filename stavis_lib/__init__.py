"""stavis — STAViS (Tsiami, Koutras, Maragos, CVPR 2020) in modern PyTorch.

Public entry points are imported lazily so that ``import stavis_lib`` stays cheap
(the command line and the notebooks import only what they use):

* functions: ``build_model`` (:mod:`stavis_lib.model`), ``load_checkpoint``
  (:mod:`stavis_lib.model.checkpoints`), ``predict_video`` and ``predict_corpus``
  (:mod:`stavis_lib.inference`), ``export_model`` and ``export_checkpoint``
  (:mod:`stavis_lib.export`: ONNX / torch.export);
* values: ``ModelConfig``, ``VARIANTS`` (:mod:`stavis_lib.config`);
* modules: ``metrics``, ``losses``, ``evaluate`` and ``train``. ``evaluate`` and ``train``
  are the packages, not functions of the same name (``stavis_lib.train.train(...)``,
  ``stavis_lib.evaluate.evaluate_split(...)``): once a submodule is imported Python binds
  its name on this package anyway, so a function there would be replaced by the module.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_model": "stavis_lib.model",
    "load_checkpoint": "stavis_lib.model.checkpoints",
    "ModelConfig": "stavis_lib.config",
    "VARIANTS": "stavis_lib.config",
    "predict_video": "stavis_lib.inference",
    "export_model": "stavis_lib.export",
    "export_checkpoint": "stavis_lib.export",
    "predict_corpus": "stavis_lib.inference",
    "metrics": "stavis_lib.metrics",
    "losses": "stavis_lib.losses",
    "evaluate": "stavis_lib.evaluate",
    "train": "stavis_lib.train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'stavis_lib' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
