"""Accumulates ratio metrics (sums of numerators and denominators) across batches."""

from collections import defaultdict

from src.metrics.error_rates import EditCounts, error_rate


class MetricTracker:
    """Keeps running totals so that a corpus metric is total numerator / total denominator."""

    def __init__(self) -> None:
        self._totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def reset(self) -> None:
        self._totals.clear()

    def update(self, key: str, numerator: float, denominator: float = 1.0) -> None:
        totals = self._totals[key]
        totals[0] += float(numerator)
        totals[1] += float(denominator)

    def avg(self, key: str) -> float:
        """Total numerator / total denominator; over a zero denominator, `error_rate`'s rule."""
        numerator, denominator = self._totals[key]
        return error_rate(EditCounts(numerator, denominator))

    def result(self) -> dict[str, float]:
        return {key: self.avg(key) for key in self._totals}

    def state_dict(self) -> dict[str, list[float]]:
        """The running totals as plain data (for a checkpoint)."""
        return {key: list(totals) for key, totals in self._totals.items()}

    def load_state_dict(self, state: dict[str, list[float]]) -> None:
        self.reset()
        for key, (numerator, denominator) in state.items():
            self.update(key, numerator, denominator)
