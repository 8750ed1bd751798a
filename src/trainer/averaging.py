"""Weight averaging: an exponential moving average (EMA) of the weights kept during training,
and the plain average of several checkpoints' weights (`python -m src.average`)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    """`ema = decay * ema + (1 - decay) * weights` after every optimizer step, for the floating
    point parameters and buffers (batch norm statistics); integer buffers (step counters) are
    copied. The average lives on the model's device, in fp32, and is evaluated and saved
    alongside the weights it follows."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"trainer.ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.average = {
            name: value.detach().clone().float() if value.is_floating_point() else value.clone()
            for name, value in model.state_dict().items()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        floats = [name for name, value in self.average.items() if value.is_floating_point()]
        torch._foreach_lerp_(
            [self.average[name] for name in floats],
            [current[name].detach().float() for name in floats],
            1.0 - self.decay,
        )
        for name, value in self.average.items():
            if not value.is_floating_point():
                value.copy_(current[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, as a model state dict (in the model's dtypes)."""
        return dict(self.average)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = sorted(set(self.average) - set(state))
        if missing:
            raise KeyError(f"the saved moving average lacks {missing}")
        for name, value in self.average.items():
            value.copy_(state[name])

    @contextmanager
    def applied_to(self, model: nn.Module) -> Iterator[None]:
        """Inside: `model` holds the averaged weights; after: its own again."""
        own = {name: value.detach().clone() for name, value in model.state_dict().items()}
        model.load_state_dict(self.average)
        try:
            yield
        finally:
            model.load_state_dict(own)


def average_state_dicts(states: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """The mean of several model state dicts of one architecture (floating point tensors
    averaged in fp32, then cast back; integer ones taken from the last)."""
    if not states:
        raise ValueError("nothing to average")
    keys = set(states[0])
    for index, state in enumerate(states[1:], start=1):
        if set(state) != keys:
            raise ValueError(f"state {index} has other keys: {sorted(set(state) ^ keys)[:5]}")
    averaged = {}
    for name, last in states[-1].items():
        if last.is_floating_point():
            total = sum(state[name].float() for state in states)
            averaged[name] = (total / len(states)).to(last.dtype)
        else:
            averaged[name] = last.clone()
    return averaged
