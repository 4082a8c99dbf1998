"""Where a corpus-prediction process sits among the processes ``torchrun`` started.

``torchrun --nproc_per_node N -m stavis_lib predict ...`` starts N processes and tells each its
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. :func:`join_ranks` reads them and, with more than
one process, joins the process group (gloo: the processes exchange only a few Python objects,
never tensors, so no GPU collective is needed); on CUDA each process takes the GPU
``LOCAL_RANK`` unless the device names one. :class:`Ranks` offers the three exchanges corpus
prediction needs: a barrier, ``all_gather`` of an object, and leaving the group.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from stavis_lib.runtime import resolve_device

#: how long a process waits for the others at a collective (the end of a corpus run waits for
#: the slowest process's share, which may take hours)
COLLECTIVE_TIMEOUT = timedelta(days=7)


@dataclass
class Ranks:
    """This process's rank among ``world_size`` and the device it predicts on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every process (nothing with one)."""
        if self.distributed:
            dist.barrier()

    def all_gather(self, obj: Any) -> list[Any]:
        """``obj`` of every process, in rank order (``[obj]`` with one)."""
        if not self.distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def leave(self) -> None:
        """Leave the process group if :func:`join_ranks` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False


def join_ranks(device: str | torch.device | None = None) -> Ranks:
    """This process's :class:`Ranks` from a process group that exists, or from the environment
    ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; absent: one process).

    ``device`` (None: CUDA when available) without an index becomes ``cuda:LOCAL_RANK`` when
    several processes run; the returned ``device`` is what ``predict_video`` should be given.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world, owns = dist.get_rank(), dist.get_world_size(), False
    else:
        rank, world, owns = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), False
        if world > 1:
            dist.init_process_group(backend="gloo", rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
            owns = True
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Ranks(rank=rank, world_size=world, device=dev, owns_group=owns)
