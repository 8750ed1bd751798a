"""Faults injected into an in-process Trainer, shared by the tests and `bench/reliability.py`: a
non-finite loss, CUDA's out-of-memory error (raised on the CPU), a disk that fills up."""

import copy
import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from src.trainer.trainer import Trainer

NAN = float("nan")


def on_calls(calls: set[int], fault: Callable, original: Callable) -> Callable:
    """`original`, except on the given calls (counted from 1), where it is `fault(original)`."""
    count = [0]

    def call(**kwargs):
        count[0] += 1
        return fault(original, **kwargs) if count[0] in calls else original(**kwargs)

    return call


def poison_loss(trainer: Trainer, calls: set[int], factor: float = NAN) -> None:
    """The loss times `factor` (NaN, inf) on the given criterion calls."""
    trainer.criterion = on_calls(
        calls,
        lambda criterion, **batch: {"loss": criterion(**batch)["loss"] * factor},
        trainer.criterion,
    )


def run_out_of_memory(trainer: Trainer, calls: set[int]) -> None:
    """The model's forward raises `torch.OutOfMemoryError` (what CUDA raises) on those calls."""

    def fault(forward, **batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    trainer.model.forward = on_calls(calls, fault, trainer.model.forward)


@contextmanager
def full_disk(after_step: int) -> Iterator[None]:
    """Inside, `torch.save` of a state past `after_step` writes 1000 bytes, then fails with
    ENOSPC, as a disk that fills up mid-save."""
    save = torch.save

    def save_on_a_full_disk(state, path, *args, **kwargs):
        if state["step"] <= after_step:
            return save(state, path, *args, **kwargs)
        with open(path, "wb") as file:
            file.write(b"\x00" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    torch.save = save_on_a_full_disk
    try:
        yield
    finally:
        torch.save = save


def training_state(trainer: Trainer) -> dict:
    """What a skipped step must leave as it was, copied: weights and buffers, the optimizer's
    moments and the schedule."""
    return copy.deepcopy(
        {
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict()["state"],
            "lr_scheduler": trainer.lr_scheduler.state_dict(),
        }
    )


def same_state(state: dict, other: dict) -> bool:
    """Bit-identical tensors and equal schedules."""
    moments = [(a, other["optimizer"][i]) for i, a in state["optimizer"].items()]
    return (
        state["lr_scheduler"] == other["lr_scheduler"]
        and state["optimizer"].keys() == other["optimizer"].keys()
        and all(torch.equal(value, other["model"][name]) for name, value in state["model"].items())
        and all(torch.equal(a[key], b[key]) for a, b in moments for key in a)
    )
