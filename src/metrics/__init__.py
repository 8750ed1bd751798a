from src.metrics.error_rates import (
    CERMetric,
    EditCounts,
    ErrorRateMetric,
    WERMetric,
    build_metrics,
    char_edits,
    corpus_edits,
    corpus_error_rates,
    error_rate,
    utterance_error_rates,
    word_edits,
)
from src.metrics.tracker import MetricTracker, rates

__all__ = [
    "CERMetric",
    "EditCounts",
    "ErrorRateMetric",
    "MetricTracker",
    "WERMetric",
    "build_metrics",
    "char_edits",
    "corpus_edits",
    "corpus_error_rates",
    "error_rate",
    "rates",
    "utterance_error_rates",
    "word_edits",
]
