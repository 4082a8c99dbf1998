"""The project's own checkpoint files, and the key-by-key import that every weight format uses.

Project checkpoints (``save_checkpoint`` / ``load_checkpoint``) hold
``{"format": "stavis", "config": ModelConfig.to_dict(), "state_dict": ..., **extra}``; they are
written atomically (temporary file + ``os.replace``) and read with ``weights_only=True``
(``read_checkpoint_file``: one-line ``CheckpointMissing`` / ``CheckpointError`` naming the file).

``import_mapped_state`` copies a state dict into a model through a key mapper, with a shape
check, and returns an ``ImportReport`` (what was loaded, what the model still lacks, what the
file had that the model does not use); a tensor whose shape differs from the model's raises
``ValueError`` naming the key and both shapes. ``transfer_weights`` uses it to copy parts
between project models or checkpoints under the same names (e.g. the visual path of a stage-1
network into a stage-2 network). The official STAViS, Kinetics and SoundNet formats are
imported by :mod:`stavis_lib.model.official` through the same function.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from stavis_lib.config import ModelConfig
from stavis_lib.errors import UserError
from stavis_lib.files import atomic_write
from stavis_lib.model.fusion import FUSION_BIAS_INIT
from stavis_lib.model.stavis import Stavis

StateLike = str | os.PathLike | Mapping[str, Any]

CHECKPOINT_FORMAT = "stavis"
#: The parts that make the visual path (what the audio-visual stage takes from the visual one).
VISUAL_PARTS = ("trunk", "dsam", "visual_head")


class CheckpointError(UserError, ValueError):
    """A weight file that cannot be used: unreadable, truncated, empty, not a checkpoint, or
    lacking a part of the model it should fill (one line naming the file)."""


class CheckpointMissing(UserError, FileNotFoundError):
    """A checkpoint path that does not exist."""


@dataclass
class ImportReport:
    """What an import did. Key names: ``loaded``/``missing`` use the model's names,
    ``unexpected`` the file's names. ``missing`` lists only keys in the scope of the import
    (e.g. the trunk for a Kinetics file) and never ``num_batches_tracked`` counters."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def __str__(self) -> str:
        lines = [f"{self.source}: loaded {len(self.loaded)} tensors, {len(self.missing)} missing, "
                 f"{len(self.unexpected)} unused"]
        for title, keys in (("missing", self.missing), ("unused", self.unexpected)):
            if keys:
                shown = ", ".join(keys[:8]) + (" ..." if len(keys) > 8 else "")
                lines.append(f"  {title}: {shown}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading and importing
def read_checkpoint_file(path: str | os.PathLike, weights_only: bool = True, what: str = "checkpoint") -> Any:
    """``torch.load`` of a weight file on the CPU; ``CheckpointMissing`` / ``CheckpointError``
    (one line naming the file) when it is absent, empty, truncated or not a torch file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMissing(f"{what} {path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path}: the file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # unreadable, truncated or not a torch file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{what} {path}: cannot be read as a PyTorch checkpoint (truncated or corrupt?): "
                              f"{reason}") from exc


def read_state(source: StateLike, weights_only: bool = True) -> tuple[dict[str, Any], Mapping[str, Any], str]:
    """(top-level dict, state_dict, description) from a path or an in-memory dict."""
    if isinstance(source, (str, os.PathLike)):
        top = read_checkpoint_file(source, weights_only)
        name = str(source)
    else:
        top, name = source, "<state dict>"
    if not isinstance(top, Mapping):
        raise ValueError(f"{name}: expected a dict, found {type(top).__name__}")
    state = top.get("state_dict", top)
    if not isinstance(state, Mapping):
        raise ValueError(f"{name}: 'state_dict' is a {type(state).__name__}, not a dict")
    return dict(top), state, name


def import_mapped_state(
    model: Stavis,
    state: Mapping[str, Any],
    mapper: Callable[[str], str | None],
    scope: tuple[str, ...],
    source: str = "<state dict>",
    convert: Callable[[str, Tensor], Tensor] | None = None,
    skip_mismatched: bool = False,
) -> ImportReport:
    """Copy ``state`` into ``model`` through ``mapper`` (file key -> model key or None).

    Only model keys starting with one of ``scope`` may be written, and only those are
    reported as missing. A shape mismatch raises ``ValueError`` naming both shapes, or with
    ``skip_mismatched`` leaves that model tensor as it is (reported as missing, the file's key
    as unexpected).
    """
    target = model.state_dict()
    report = ImportReport(source)
    updates: dict[str, Tensor] = {}
    for key, value in state.items():
        local = mapper(key)
        if local is None or local not in target or not local.startswith(scope):
            report.unexpected.append(key)
            continue
        if not isinstance(value, Tensor):
            raise ValueError(f"{source}: key {key!r} holds a {type(value).__name__}, not a tensor")
        if convert is not None:
            value = convert(key, value)
        if tuple(value.shape) != tuple(target[local].shape):
            if skip_mismatched:
                report.unexpected.append(key)
                continue
            raise ValueError(
                f"{source}: key {key!r} (model {local!r}) has shape {tuple(value.shape)} "
                f"but the model expects {tuple(target[local].shape)}"
            )
        updates[local] = value
        report.loaded.append(local)
    report.missing = [
        k for k in target if k.startswith(scope) and k not in updates and not k.endswith("num_batches_tracked")
    ]
    if updates:
        with torch.no_grad():
            for local, value in updates.items():
                target[local].copy_(value.to(dtype=target[local].dtype))
    return report


def transfer_weights(
    model: Stavis, source: StateLike | Stavis, parts: tuple[str, ...] = VISUAL_PARTS, skip_mismatched: bool = False
) -> ImportReport:
    """Copy ``parts`` from another stavis model, a project checkpoint or a bare state dict
    under the same names. The default, the visual path, starts the audio-visual stage from
    the trained visual-only network (§3.6); ``parts=PARTS`` copies every part the source has.
    A tensor of another shape raises ``ValueError`` naming the key and both shapes, or with
    ``skip_mismatched`` is left out (its model tensor reported as missing)."""
    if isinstance(source, Stavis):
        state, name = source.state_dict(), f"<{source.config.variant} model>"
    else:
        _, state, name = read_state(source)
    scope = tuple(p + "." for p in parts)
    return import_mapped_state(model, state, lambda k: k if k.startswith(scope) else None, scope, name,
                               skip_mismatched=skip_mismatched)


# --------------------------------------------------------------------------- project checkpoints
def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace``: a reader never
    sees a half-written file, and an interrupted save leaves the old one in place."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_checkpoint(path: str | os.PathLike, model: Stavis, **extra: Any) -> None:
    """Save ``{"format", "config", "state_dict", **extra}`` atomically (tmp file + os.replace).

    ``extra`` values should be plain types and tensors (e.g. epoch, optimizer state dicts,
    metrics) so that the file loads with ``weights_only=True``.
    """
    reserved = {"format", "config", "state_dict"} & set(extra)
    if reserved:
        raise ValueError(f"save_checkpoint: {sorted(reserved)} are reserved keys")
    obj = {"format": CHECKPOINT_FORMAT, "config": model.config.to_dict(),
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}
    atomic_save(obj, path)


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", weights_only: bool = True
) -> tuple[Stavis, dict[str, Any]]:
    """Rebuild the model from a project checkpoint's stored config; returns (model, extra).

    Every tensor of the stored variant must be in the file (strict load): otherwise, and for a
    missing, empty, truncated or foreign file, a one-line ``CheckpointError`` names the file.
    """
    path = Path(path)
    obj = read_checkpoint_file(path, weights_only)
    if not isinstance(obj, Mapping) or "config" not in obj or "state_dict" not in obj:
        raise CheckpointError(f"{path}: not a stavis checkpoint: expected keys 'config' and 'state_dict'"
                              f"{_foreign_file_hint(obj)}")
    try:
        model = Stavis(ModelConfig.from_dict(dict(obj["config"])))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its stored model config is unusable: {exc}") from exc
    state = obj["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        parts = sorted({k.split(".", 1)[0] for k in missing})
        raise CheckpointError(f"{path}: variant {model.config.variant!r} lacks {len(missing)} tensors of parts "
                              f"{parts} (e.g. {missing[0]})")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {_one_line(exc)}") from exc
    model.to(map_location)
    extra = {k: v for k, v in obj.items() if k not in ("format", "config", "state_dict")}
    return model, extra


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _foreign_file_hint(obj: Any) -> str:
    """What to use instead of ``load_checkpoint`` for an official STAViS file ('' otherwise)."""
    if not isinstance(obj, Mapping):
        return ""
    state = obj.get("state_dict", obj)
    fits = official_variant_hint(state) if isinstance(state, Mapping) else None
    if fits:
        return f" (an official STAViS file: use import_official_stavis, or --variant {fits})"
    if "arch" in obj:
        return " (an official STAViS file? use import_official_stavis)"
    return ""


# --------------------------------------------------------------------------- recognising official files
def fuseav_untrained(state: Mapping[str, Any]) -> bool:
    """True when the file's ``fuseav`` (the S3 fusion conv) still has its initial bias -6
    everywhere: the official visual-only run never trains it (nor ``fusion3``)."""
    bias = [v for k, v in state.items() if k.endswith("fuseav.bias") and isinstance(v, Tensor)]
    return bool(bias) and bool(torch.all(bias[0] == FUSION_BIAS_INIT))


def official_variant_hint(state: Mapping[str, Any]) -> str | None:
    """Which ``--variant`` an official-layout state dict fits, or None when it is not an
    official STAViS file (no ``score_dsn.*`` keys, the official DSAM modules). Visual-only and
    audio-visual official files have the same keys (the official class always holds
    ``soundnet8``, ``fusion3`` and ``fuseav``); a file whose ``fuseav`` bias is still the
    initial -6 comes from a visual-only run: "visual"; else "L3mul_S3"."""
    keys = [k[len("module."):] if k.startswith("module.") else k for k in state]
    if not any(k.startswith("score_dsn.") for k in keys):
        return None
    complete = all(any(k.startswith(p) for k in keys) for p in ("soundnet8.", "fusion3.", "fuseav."))
    return "L3mul_S3" if complete and not fuseav_untrained(state) else "visual"
