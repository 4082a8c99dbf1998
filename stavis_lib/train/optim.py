"""SGD with the official per-part learning rates, the multistep schedule, and the loss of each
stage (eq. 6 with its epoch-dependent side weight, eq. 7)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from stavis_lib.train.config import OFFICIAL_PART_LR, PART_GROUP, SAL_SCALES, TrainConfig


def _sal_scale(name: str) -> float:
    for suffix, scale in SAL_SCALES:
        if name.endswith(suffix):
            return scale
    return 1.0


def parameter_groups(model: nn.Module, stage: str, cfg: TrainConfig) -> list[dict[str, Any]]:
    """SGD parameter groups with the official per-part learning rates (``OFFICIAL_PART_LR``).

    Parameters the stage's loss cannot reach (``Stavis.stage_parameter_names``) or whose part
    has lr 0 are frozen (``requires_grad=False``): the official code keeps them in its
    optimisers with lr 0 or no gradient, which leaves them unchanged just the same.
    Each group carries ``name`` (the parameter) and ``part`` (official optimiser) for logs.
    """
    part_lr = dict(OFFICIAL_PART_LR[stage])
    if cfg.part_lr is not None:
        unknown = set(cfg.part_lr) - set(part_lr)
        if unknown:
            raise ValueError(f"TrainConfig.part_lr: unknown parts {sorted(unknown)}; expected {sorted(part_lr)}")
        part_lr.update(cfg.part_lr)
    reached = model.stage_parameter_names(stage) if hasattr(model, "stage_parameter_names") else None
    groups: list[dict[str, Any]] = []
    for name, p in model.named_parameters():
        top = name.split(".", 1)[0]
        if top not in PART_GROUP:
            raise ValueError(f"parameter {name!r}: unknown part {top!r} (expected one of {sorted(PART_GROUP)})")
        part = PART_GROUP[top]
        scale = part_lr[part] * (_sal_scale(name) if (part == "sal" and cfg.sal_scales) else 1.0)
        prefixes = [k for k in (cfg.module_lr or {}) if name.startswith(k)]
        if prefixes:
            scale = float(cfg.module_lr[max(prefixes, key=len)])  # type: ignore[index]
        if scale == 0.0 or (reached is not None and name not in reached):
            p.requires_grad_(False)
            continue
        p.requires_grad_(True)
        groups.append({"params": [p], "lr": cfg.lr * scale, "name": name, "part": part})
    if not groups:
        raise ValueError(f"stage {stage!r}: no parameter would be trained")
    return groups


def build_optimizer(model: nn.Module, stage: str, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD (momentum, dampening, weight decay as ``cfg``) over ``parameter_groups``."""
    return torch.optim.SGD(
        parameter_groups(model, stage, cfg), lr=cfg.lr, momentum=cfg.momentum, dampening=cfg.dampening,
        weight_decay=cfg.weight_decay, nesterov=cfg.nesterov,
    )


def default_milestones(epochs: int) -> tuple[int, ...]:
    """The official opts' milestones ``int(0.5 n) - 1, int(0.75 n) - 1`` (0-based epochs, at
    least 1): (29, 44) for 60 epochs, (49, 74) for 100."""
    return tuple(sorted({max(1, int(0.5 * epochs) - 1), max(1, int(0.75 * epochs) - 1)}))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.MultiStepLR:
    """MultiStepLR stepped once after every epoch, so epoch index e (0-based) trains at
    lr x gamma^(number of milestones <= e) (``TrainConfig.milestones``; None = ``default_milestones``)."""
    milestones = cfg.milestones if cfg.milestones is not None else default_milestones(cfg.epochs)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=cfg.gamma)


def lr_schedule(cfg: TrainConfig) -> list[float]:
    """The base learning rate of every epoch (index 0 = the first), as ``build_scheduler`` sets it."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = build_scheduler(opt, cfg)
    rates = []
    for _ in range(cfg.epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def stage_loss(stage: str, cfg: TrainConfig, epoch: int) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    """``loss(out, dense, fix)`` of a stage in epoch ``epoch`` (0-based index): eq. (6) with the
    side weight of the 1-based epoch ``epoch + 1`` (as the official loop), or eq. (7); CE
    reduction ``cfg.ce_reduction``."""
    from stavis_lib import losses

    if stage == "visual":
        return lambda out, dense, fix: losses.visual_loss(out, dense, fix, epoch + 1, cfg.epochs,
                                                          ce_reduction=cfg.ce_reduction)
    return lambda out, dense, fix: losses.audiovisual_loss(out, dense, fix, ce_reduction=cfg.ce_reduction)

