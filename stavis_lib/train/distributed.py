"""Where a training process sits (``torchrun`` / DDP), the collective helpers the loop uses,
and the deterministic per-epoch sampler sharded across processes."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from stavis_lib.runtime import resolve_device


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


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """The element-wise sum of ``values`` over all processes (``values`` itself with one)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    """Wait for every process (nothing with one)."""
    if ctx.distributed:
        dist.barrier()


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

