from src.metrics.error_rates import (
    CERMetric,
    EditCounts,
    ErrorRateMetric,
    WERMetric,
    char_edits,
    error_rate,
    utterance_error_rates,
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
    "utterance_error_rates",
    "word_edits",
]
