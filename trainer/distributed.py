"""Training under torchrun (PyTorch DistributedDataParallel): the process group from torchrun's environment, each
rank's share of an epoch's training order, and metrics gathered from every rank.

    torchrun --nproc-per-node 2 -m imgcheck train --data data/cifake ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/MASTER_PORT) for every process it starts; a run
that finds them starts a process group (NCCL on CUDA, gloo on CPU) and trains with DDP. Without them, or with a
world of one, nothing here talks to another process and a run is the single-process run it always was.

The shards follow one rule (`rank_order`): an epoch's global order is the single-process run's (the same seeded
permutation of the same balanced draw); global batch k is that order's k-th slice of `batch x world` images, and
rank r trains on the r-th equal part of it. So a run of N processes with batch B sees the batches a single process
with batch N x B sees, and DDP's gradient average over the ranks is that batch's mean gradient. The order is padded
with its own first images to a multiple of the world size (at most world - 1 repeats per epoch, as PyTorch's
DistributedSampler does) so that every rank takes the same number of equal steps.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from imgcheck.infer.errors import ImgcheckError

# How long a rank waits in a collective for the others (loading data, or a rank evaluating alone) before it gives up.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: its rank, the number of processes (world), its rank on this machine, and
    the process group's backend (None for a single process)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """Whether other processes train beside this one."""
        return self.world > 1

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes the run's files and prints its progress; the other ranks stay quiet."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (a no-op for a single process)."""
        if self.distributed:
            dist.barrier()

    def describe(self) -> str:
        return "1 process" if not self.distributed else f"{self.world} processes ({self.backend})"


def environment_ranks(environ: dict[str, str] | None = None) -> Ranks:
    """The Ranks that torchrun's environment variables describe (one process when they are absent)."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return Ranks()
    try:
        rank, world = int(environ.get("RANK", "0")), int(environ["WORLD_SIZE"])
        local_rank = int(environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ImgcheckError(f"torchrun's environment is malformed: {', '.join(f'{k}={environ.get(k)!r}' for k in ENVIRONMENT)}")
    if world < 1 or not 0 <= rank < world:
        raise ImgcheckError(f"torchrun's environment is inconsistent: RANK={rank}, WORLD_SIZE={world}")
    return Ranks(rank, world, local_rank)


def start(device: torch.device, environ: dict[str, str] | None = None) -> tuple[Ranks, torch.device]:
    """Join the run torchrun started (if any): the process group on `device`'s backend, and the device this rank
    trains on (a CUDA run: the GPU of its local rank)."""
    ranks = environment_ranks(environ)
    if not ranks.distributed:
        return ranks, device
    if device.type == "cuda":
        visible = torch.cuda.device_count()
        if ranks.local_rank >= visible:
            raise ImgcheckError(f"rank {ranks.rank} is local rank {ranks.local_rank}, but torch sees {visible} GPU(s) "
                                f"here: start at most {visible} process(es) per machine (--nproc-per-node), or "
                                f"train on CPUs with --device cpu.")
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_available() or (backend == "gloo" and not dist.is_gloo_available()):
        raise ImgcheckError(f"this torch build has no {backend} backend for distributed training; run one process.")
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return Ranks(ranks.rank, ranks.world, ranks.local_rank, backend), device


def check_sync_batchnorm(wanted: bool, ranks: Ranks, device: torch.device) -> None:
    """Refuse --sync-batchnorm where PyTorch's SyncBatchNorm cannot run: it synchronises on GPUs only."""
    if wanted and ranks.distributed and device.type != "cuda":
        raise ImgcheckError("--sync-batchnorm needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only. Train on CPUs "
                            "without it (each process then normalises over its own share of the batch).")


class StoppedByLauncher(Exception):
    """torchrun ended this process (SIGTERM), as it does to every process when one of them fails."""


@contextlib.contextmanager
def stop_on_sigterm(ranks: Ranks) -> Iterator[None]:
    """In a distributed run, turn torchrun's SIGTERM into StoppedByLauncher, so that the rank says why it stopped
    and how to resume instead of vanishing (Python's default for SIGTERM); restored afterwards."""
    if not ranks.distributed or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stopped(signum: int, frame: object) -> None:
        raise StoppedByLauncher("torchrun stopped this process, as it stops every process when one of them ends")

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop(ranks: Ranks) -> None:
    """Leave the process group (after the last collective)."""
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def padded_length(count: int, world: int) -> int:
    """`count` rounded up to a multiple of `world`: the images an epoch trains on, repeats included."""
    return math.ceil(count / world) * world


def rank_order(order: np.ndarray, batch_size: int, rank: int, world: int) -> np.ndarray:
    """Rank `rank`'s training order for an epoch whose global order is `order`, with `batch_size` images per rank
    and step: global batch k (`batch_size x world` images of `order`, padded to a multiple of `world` with its own
    first images) split into `world` equal parts, part `rank` of each. Taken `batch_size` at a time, it gives the
    rank its part of every global batch; the parts of all ranks are disjoint and cover the padded order."""
    order = np.asarray(order)
    if world == 1:
        return order
    padded = np.resize(order, padded_length(len(order), world)) if len(order) else order
    step = batch_size * world
    parts = []
    for start in range(0, len(padded), step):
        chunk = padded[start: start + step]
        share = len(chunk) // world
        parts.append(chunk[rank * share: (rank + 1) * share])
    return np.concatenate(parts) if parts else order[:0]


def steps_per_epoch(count: int, batch_size: int, world: int) -> int:
    """Optimizer steps in an epoch of `count` training images at `batch_size` per rank on `world` ranks."""
    return math.ceil(padded_length(count, world) / (batch_size * world))


def eval_share(count: int, rank: int, world: int) -> np.ndarray:
    """The sample indices rank `rank` evaluates: a contiguous block, so that the blocks in rank order are 0..count-1."""
    return np.arange(rank * count // world, (rank + 1) * count // world)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of an epoch's dropout (and, past rank 0, its augmentation) on `rank`: rank 0's is the single-process
    run's, so one process trains exactly as before; each other rank gets a stream of its own."""
    return seed * 1_000_003 + epoch + rank * 7_919_993


def gather(value: Any, ranks: Ranks) -> list[Any]:
    """Every rank's `value` (any picklable object), in rank order, on every rank."""
    if not ranks.distributed:
        return [value]
    values: list[Any] = [None] * ranks.world
    dist.all_gather_object(values, value)
    return values


def sum_over_ranks(values: list[float], ranks: Ranks) -> list[float]:
    """The elementwise sum of `values` over the ranks."""
    if not ranks.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device(ranks))
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def max_over_ranks(value: float, ranks: Ranks) -> float:
    """The largest `value` over the ranks (a step's wall time is its slowest rank's)."""
    if not ranks.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device(ranks))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def _collective_device(ranks: Ranks) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if ranks.backend == "nccl" else torch.device("cpu")
