"""Accumulates ratio metrics (sums of numerators and denominators) across batches."""

from typing import Any

import torch

from src.metrics.error_rates import EditCounts, error_rate

Totals = dict[str, tuple[float, float]]


class MetricTracker:
    """Keeps running totals so that a corpus metric is total numerator / total denominator.

    A numerator or denominator may be a number or a tensor (e.g. a loss on the GPU): tensors
    are summed in float64 where they are, without a host sync per update, and read once, when
    `totals()`, `result()` or `state_dict()` asks for them."""

    def __init__(self) -> None:
        self._totals: dict[str, list[Any]] = {}

    def reset(self) -> None:
        self._totals.clear()

    def update(self, key: str, numerator: Any, denominator: Any = 1.0) -> None:
        totals = self._totals.setdefault(key, [0.0, 0.0])
        totals[0] = totals[0] + _summable(numerator)
        totals[1] = totals[1] + _summable(denominator)

    def totals(self) -> Totals:
        """{key: (total numerator, total denominator)} as numbers (one host read for all)."""
        values = [value for pair in self._totals.values() for value in pair]
        tensors = [value for value in values if torch.is_tensor(value)]
        read = iter(torch.stack(tensors).tolist() if tensors else [])
        numbers = [next(read) if torch.is_tensor(value) else float(value) for value in values]
        return {key: (numbers[2 * i], numbers[2 * i + 1]) for i, key in enumerate(self._totals)}

    def result(self) -> dict[str, float]:
        return rates(self.totals())

    def state_dict(self) -> dict[str, list[float]]:
        """The running totals as plain data (for a checkpoint)."""
        return {key: list(pair) for key, pair in self.totals().items()}

    def load_state_dict(self, state: dict[str, list[float]]) -> None:
        self.reset()
        for key, (numerator, denominator) in state.items():
            self.update(key, numerator, denominator)


def rates(totals: Totals) -> dict[str, float]:
    """Total numerator / total denominator per key; over a zero denominator, `error_rate`'s
    rule."""
    return {key: error_rate(EditCounts(*pair)) for key, pair in totals.items()}


def _summable(value: Any) -> Any:
    """A tensor detached, as a float64 scalar on its device; a number as a float."""
    if torch.is_tensor(value):
        return value.detach().to(torch.float64).reshape(())
    return float(value)
