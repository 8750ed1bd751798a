from src.metrics.error_rates import (
    CERMetric,
    EditCounts,
    ErrorRateMetric,
    WERMetric,
    char_edits,
    error_rate,
    word_edits,
)
from src.metrics.tracker import MetricTracker

__all__ = [
    "CERMetric",
    "EditCounts",
    "ErrorRateMetric",
    "MetricTracker",
    "WERMetric",
    "char_edits",
    "error_rate",
    "word_edits",
]
