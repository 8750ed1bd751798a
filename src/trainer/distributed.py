"""Several training processes through PyTorch's own engine: torchrun starts them and sets
`RANK`, `WORLD_SIZE`, `LOCAL_RANK` and `LOCAL_WORLD_SIZE` (and the rendezvous); this module
joins the process group (NCCL on CUDA, gloo on the CPU) with a finite timeout and gives the
trainer what it needs across ranks: agreed stop requests, agreed step skips, summed metric
totals and per-rank state gathered for the checkpoint. A plain `python train.py` is one
process: `Distributed()` with every collective a no-op."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (state dicts without `module.`)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def environment_rank() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) as torchrun set them; (0, 1) for a plain process."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


@dataclass(frozen=True)
class Distributed:
    """This process's place among the ranks. `control` is a gloo group for host-side values
    (stop requests, metric totals, per-rank state), so that reading them never waits on a GPU
    stream; on the CPU it is the default (gloo) group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    control: Any = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and the experiment."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """This rank's GPU (`cuda:LOCAL_RANK`) when `device` is CUDA, else `device`."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def agree_stop(self, signum: int) -> int:
        """The stop signal any rank received (0: none), the same on every rank."""
        if not self.enabled:
            return signum
        value = torch.tensor([signum], dtype=torch.int64)
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.control)
        return int(value)

    def agree_all(self, flag: torch.Tensor) -> torch.Tensor:
        """A device bool that is True on every rank only if it is True on all of them (one
        collective on the device: no host sync)."""
        if not self.enabled:
            return flag
        value = flag.to(torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return value.bool()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value, group=self.control)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` (picklable), on every rank."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def sum_totals(self, totals: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Metric totals ({key: (numerator, denominator)}) summed over the ranks; a key some
        rank lacks (e.g. an empty validation shard) counts as (0, 0) there."""
        if not self.enabled:
            return totals
        keys = sorted(set().union(*self.gather(sorted(totals))))
        values = torch.tensor([totals.get(key, (0.0, 0.0)) for key in keys], dtype=torch.float64)
        dist.all_reduce(values, group=self.control)
        return {key: tuple(pair) for key, pair in zip(keys, values.tolist(), strict=True)}

    def close(self) -> None:
        """Leave the group once every rank is done (a rank tearing its connections down while
        another still uses them can abort)."""
        if self.enabled and dist.is_initialized():
            dist.barrier(group=self.control)
            dist.destroy_process_group()


def init_distributed(timeout_s: float, device_type: str) -> Distributed:
    """Join the process group torchrun's environment describes (a no-op `Distributed()` when
    `WORLD_SIZE` is unset or 1). Backend NCCL when training on CUDA, else gloo; every
    collective fails after `timeout_s` seconds instead of hanging. Idempotent: a process that
    already joined (several trainers in one process, as in the tests) reuses its group."""
    rank, world_size = environment_rank()
    if world_size == 1:
        return Distributed()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    timeout = timedelta(seconds=timeout_s)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=timeout)
        logger.info("rank %d of %d joined (%s, timeout %g s)", rank, world_size, backend, timeout_s)
    control = dist.new_group(backend="gloo", timeout=timeout) if backend == "nccl" else None
    if rank != 0:  # the main process logs; the others report warnings and errors only
        logging.getLogger().setLevel(logging.WARNING)
    return Distributed(rank, world_size, local_rank, local_world_size, control)


@contextmanager
def failures_named() -> Iterator[None]:
    """Around a distributed run: an exception is logged as `rank R of N failed: ...` before it
    propagates (the process then exits non-zero, and torchrun stops the other ranks)."""
    try:
        yield
    except Exception as error:
        rank, world_size = environment_rank()
        if world_size > 1:
            name = type(error).__name__
            logger.error("rank %d of %d failed: %s: %s", rank, world_size, name, error)
        raise


def hydra_overrides() -> list[str]:
    """Extra Hydra overrides for ranks other than 0, so that they write nothing into the run
    folder: no `.hydra/` copy of the config and no `train.log` (console only)."""
    rank, _ = environment_rank()
    return [] if rank == 0 else ["hydra.output_subdir=null", "hydra/job_logging=stdout"]
