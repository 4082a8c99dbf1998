"""One epoch of a run: optimiser steps with gradient accumulation, validation, best / patience
bookkeeping, checkpoints and logs (``RunState`` holds what lives between epochs)."""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from stavis_lib.runtime import autocast, channels_last_input
from stavis_lib.train.config import TrainConfig
from stavis_lib.train.data import EpochView, check_batch
from stavis_lib.train.distributed import DistContext, EpochSampler, all_reduce_sum
from stavis_lib.train.init import unwrap
from stavis_lib.train.optim import stage_loss
from stavis_lib.train.outputs import plot_loss_curves, save_training_checkpoint, write_csv
from stavis_lib.train.rng import gather_rng


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
    sums = all_reduce_sum(sums, ctx)
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
    return bool(getattr(unwrap(model).config, "uses_audio", False))


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool, needs_audio: bool):
    frames = batch["frames"].to(device, non_blocking=True).float()
    if channels_last:
        frames = channels_last_input(frames)
    audio = batch["audio"].to(device, non_blocking=True).float() if needs_audio else None
    dense = batch["dense"].to(device, non_blocking=True).float()
    fix = batch["fix"].to(device, non_blocking=True).float()
    return frames, audio, dense, fix


@dataclass
class RunState:
    """The state of one training run between epochs (``loop._setup`` builds it)."""

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


def train_epoch(run: RunState, epoch: int) -> list[float]:
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
        from stavis_lib.progress import progress_bar

        bar = progress_bar(total=run.steps_per_epoch, desc=f"{run.stage} epoch {epoch + 1}/{cfg.epochs}", leave=False,
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


def _optimizer_step(run: RunState, batches: Iterator[Any], loss_fn: Callable[..., Any]) -> tuple[float, dict[str, float]]:
    """Forward/backward over ``accum`` micro-batches, one optimiser step; the loss and its
    components averaged over the effective batch (and the processes)."""
    cfg, ctx, device = run.cfg, run.ctx, run.ctx.device
    needs_audio = run.base.config.uses_audio
    run.optimizer.zero_grad(set_to_none=True)
    total, parts_sum = 0.0, {}
    for micro in range(run.accum):
        batch = next(batches)
        check_batch(batch, needs_audio)
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
    reduced = all_reduce_sum([total] + [parts_sum[k] for k in sorted(parts_sum)], ctx)
    return reduced[0] / ctx.world_size, {k: v / ctx.world_size for k, v in zip(sorted(parts_sum), reduced[1:])}


def end_epoch(run: RunState, epoch: int, epoch_losses: list[float], epoch_start: float) -> tuple[dict[str, Any], bool]:
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
    rngs = gather_rng(ctx)
    if ctx.is_main:
        _write_epoch(run, epoch, row, rngs, improved, finished, validated)
    return row, stop


def _write_epoch(run: RunState, epoch: int, row: dict[str, Any], rngs: dict[str, Any], improved: bool,
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
    write_csv(out / "steps.csv", run.steps)
    write_csv(out / "epochs.csv", run.epochs_log)
    plot_loss_curves(run.steps, run.epochs_log, out / "loss_curves.png", title=run.stage)
    message = f"{run.stage} epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}"
    if validated:
        message += f", val CC {row['val_cc']:.3f} NSS {row['val_nss']:.3f}" + (" (best)" if improved else "")
    run.log(message)

