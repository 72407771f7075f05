"""Multi-process training through ``torchrun`` and DistributedDataParallel (gloo on CPU, NCCL on CUDA).

``torchrun --nproc_per_node=G -m benchmark.cli imagenet mobilenet search ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` reads them. Without
them the run is one process (world size 1) and nothing here communicates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist

from benchmark.errors import NasBenchError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise NasBenchError(f"${name}={value!r} is not an integer", "launch with torchrun") from None


def resolve_device(requested: str | None) -> torch.device:
    """``auto``/None -> CUDA when available, else CPU; ``cuda`` without a GPU is a one-line error."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:  # torch lists every device type it knows; say which ones we run on
        raise NasBenchError(f"--device {requested!r} is not a device this toolkit runs on",
                            "choose from: auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NasBenchError("--device cuda asked for, but no CUDA device is available", "use --device cpu")
    return device


def _device(requested: str | None, local_rank: int) -> torch.device:
    device = resolve_device(requested)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise NasBenchError(f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible)",
                                "start at most one process per GPU (torchrun --nproc_per_node)")
        return torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(backend: str | None = None, device: str | None = None) -> DistInfo:
    """Join the process group torchrun described (gloo on CPU, nccl on CUDA unless ``backend``), or
    return world size 1 when the process was not started by torchrun. ``device``: ``auto`` (default),
    ``cpu`` or ``cuda``; on CUDA each process takes GPU ``LOCAL_RANK``."""
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    dev = _device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not tdist.is_initialized():
        tdist.init_process_group(backend=backend or ("nccl" if dev.type == "cuda" else "gloo"),
                                 rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def check_batch(global_batch: int, world_size: int) -> int:
    """The per-process batch; a one-line error when the world size does not divide the global batch."""
    if global_batch < 1 or global_batch % world_size:
        raise NasBenchError(f"the global batch {global_batch} is not divisible by the world size {world_size}",
                            f"choose a batch that is a multiple of {world_size} (--set batch_size=...) "
                            "or change the number of processes")
    return global_batch // world_size


def is_main(dist: DistInfo | None) -> bool:
    return dist is None or dist.rank == 0


def barrier(dist: DistInfo | None) -> None:
    if dist is not None and dist.distributed:
        tdist.barrier()


def all_reduce_sum(tensor: torch.Tensor, dist: DistInfo | None) -> torch.Tensor:
    """The sum of ``tensor`` over all processes (in place; returned for chaining)."""
    if dist is not None and dist.distributed:
        tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
    return tensor


def cleanup(dist: DistInfo | None) -> None:
    """Leave the process group (end of a torchrun job)."""
    if dist is not None and dist.distributed and tdist.is_initialized():
        tdist.destroy_process_group()
