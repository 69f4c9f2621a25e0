"""torchrun support for the trainer: one process per GPU, gradients averaged by DDP.

Under ``torchrun --nproc_per_node K -m invdiff train ...`` each rank trains on its own random
batches (data and noise generators seeded with the rank), DDP all-reduces the gradients, so every
rank holds the same weights and the same EMA; only rank 0 writes logs, checkpoints, sample grids
and the export. ``--batch-size`` is per GPU: the effective batch is K times larger.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Rank:
    """This process's place in the job (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init(device: str | None) -> tuple[Rank, torch.device]:
    """Join the torchrun job if there is one (NCCL on CUDA), and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Rank(), torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    local = int(os.environ["LOCAL_RANK"])
    if device == "cpu" or not torch.cuda.is_available():  # gloo on the CPU: for tests of the multi-rank path
        dist.init_process_group("gloo")
        return Rank(dist.get_rank(), world, local), torch.device("cpu")
    if device not in (None, "cuda"):
        raise ValueError(f"under torchrun each rank uses its own GPU; --device {device} cannot be honoured.")
    torch.cuda.set_device(local)
    dist.init_process_group("nccl")
    return Rank(dist.get_rank(), world, local), torch.device("cuda", local)


def wrap(model: torch.nn.Module, rank: Rank) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when there are several ranks (same object otherwise)."""
    if rank.world == 1:
        return model
    device_ids = [rank.local] if next(model.parameters()).is_cuda else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def barrier(rank: Rank) -> None:
    if rank.world > 1:
        dist.barrier()


def finish(rank: Rank) -> None:
    if rank.world > 1:
        dist.destroy_process_group()
