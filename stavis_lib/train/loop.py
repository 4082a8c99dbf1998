"""``train``: set up a run (model, starting or resumed weights, optimiser, data, DDP), run its
epochs and return a ``TrainResult``."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from stavis_lib.runtime import make_autocast_safe, resolve_autocast_dtype, to_channels_last, torch_threads
from stavis_lib.train.config import TrainConfig, TrainConfigError
from stavis_lib.train.data import EpochView, ValidationPlan, build_datasets, plan_validation
from stavis_lib.train.distributed import DistContext, EpochSampler, barrier, setup_distributed
from stavis_lib.train.epoch import RunState, end_epoch, train_epoch
from stavis_lib.train.init import as_model, initialise, unwrap
from stavis_lib.train.optim import build_optimizer, build_scheduler, lr_schedule
from stavis_lib.train.rng import seed_everything, set_rng_state


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
    """Train one stage of STAViS (``stavis_lib.train`` docstring) and return a ``TrainResult``.

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
            return run_training(model_or_config, data_config, val_data, cfg, out, ctx, on_epoch_end)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _logger(cfg: TrainConfig, ctx: DistContext) -> Callable[[str], None]:
    def log(message: str) -> None:
        if ctx.is_main:
            if cfg.progress:
                from stavis_lib.progress import progress_write

                progress_write(message)
            else:
                print(message, flush=True)

    return log


def _setup(model_or_config: Any, data_config: Any, val_data: Any, cfg: TrainConfig, out: Path,
           ctx: DistContext) -> RunState:
    """Model (initial or resumed weights), optimiser, scheduler, data and sampler of a run."""
    log = _logger(cfg, ctx)
    seed_everything(cfg.seed)  # a config -> the same initial weights for the same seed
    base = unwrap(as_model(model_or_config))
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
    barrier(ctx)

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
        init_report = initialise(base, stage, cfg, log)
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
    net = wrap_model(base, cfg, ctx, log)
    run = RunState(cfg, ctx, out, stage, base, net, optimizer, scheduler, scaler, train_set, val_set, view, sampler,
               per_rank, accum, steps_per_epoch, ac_dtype, use_cl, log, init_report)
    if state is not None:
        _restore(run, state)
    _announce(run, plan, effective)
    return run


def wrap_model(base: nn.Module, cfg: TrainConfig, ctx: DistContext, log: Callable[[str], None]) -> nn.Module:
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


def _restore(run: RunState, state: dict[str, Any]) -> None:
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


def _announce(run: RunState, plan: ValidationPlan, effective: int) -> None:
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


def run_training(model_or_config: Any, data_config: Any, val_data: Any, cfg: TrainConfig, out: Path, ctx: DistContext,
           on_epoch_end: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    start_time = time.perf_counter()
    run = _setup(model_or_config, data_config, val_data, cfg, out, ctx)
    stopped_early = False
    for epoch in range(run.start_epoch, cfg.epochs):
        if run.capped:
            break
        epoch_start = time.perf_counter()
        epoch_losses = train_epoch(run, epoch)
        run.scheduler.step()
        row, stop = end_epoch(run, epoch, epoch_losses, epoch_start)
        barrier(ctx)
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


def _train_autocast(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off":
        return None
    if amp == "auto":
        return resolve_autocast_dtype("auto", device) if device.type == "cuda" else None
    return resolve_autocast_dtype(amp, device)

