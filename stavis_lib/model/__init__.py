"""STAViS network (§3): visual trunk + DSAM, SoundNet-8, localization, fusion, and its weight files.

``build_model(variant, **overrides)`` builds the network of a Table-1 row (names in
:mod:`stavis_lib.config`). Modules: :mod:`~stavis_lib.model.stavis` (the network),
:mod:`~stavis_lib.model.visual`, :mod:`~stavis_lib.model.audio`,
:mod:`~stavis_lib.model.localization`, :mod:`~stavis_lib.model.fusion` (its parts),
:mod:`~stavis_lib.model.fold` and :mod:`~stavis_lib.model.stem_cache` (inference speed-ups),
:mod:`~stavis_lib.model.checkpoints` (the project's own checkpoint files) and
:mod:`~stavis_lib.model.official` (official STAViS, Kinetics and SoundNet weights).
"""
from __future__ import annotations

from typing import Any

from stavis_lib.config import make_config
from stavis_lib.model.stavis import PARTS, STAGES, Stavis, StavisOutput


def build_model(variant: str = "L3mul_S3", **overrides: Any) -> Stavis:
    """Build the STAViS network of a Table-1 row (names in :mod:`stavis_lib.config`).

    ``overrides`` are ``ModelConfig`` fields, e.g. ``build_model("visual", depth=10, width=8)``.
    """
    return Stavis(make_config(variant, **overrides))


__all__ = ["PARTS", "STAGES", "Stavis", "StavisOutput", "build_model"]
