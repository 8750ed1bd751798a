"""Word and character edit counts through jiwer, plus corpus-level WER/CER metrics."""

from collections.abc import Sequence
from typing import Any, NamedTuple

import jiwer


class EditCounts(NamedTuple):
    """Edit operations needed to turn a reference into a hypothesis."""

    edits: int
    reference_length: int


def _counts(output: Any, reference_length: int) -> EditCounts:
    edits = output.substitutions + output.deletions + output.insertions
    return EditCounts(edits, reference_length)


def word_edits(reference: str, hypothesis: str) -> EditCounts:
    """Word-level edits; an empty reference counts every hypothesis word as an insertion."""
    output = jiwer.process_words(reference, hypothesis)
    return _counts(output, len(reference.split()))


def char_edits(reference: str, hypothesis: str) -> EditCounts:
    """Character-level edits (spaces included, as jiwer counts them)."""
    output = jiwer.process_characters(reference, hypothesis)
    return _counts(output, len(reference))


def error_rate(counts: EditCounts) -> float:
    """Edits over reference length; against an empty reference: 0 if matched, else 1."""
    if counts.reference_length == 0:
        return float(counts.edits > 0)
    return counts.edits / counts.reference_length


def utterance_error_rates(reference: str, hypothesis: str) -> tuple[float, float]:
    """One utterance's (WER, CER)."""
    return (
        error_rate(word_edits(reference, hypothesis)),
        error_rate(char_edits(reference, hypothesis)),
    )


class ErrorRateMetric:
    """Corpus-level error rate of one decoder's hypotheses: total edits / total reference units.

    Called on a batch it returns (edits, reference length) for the tracker to sum across batches.
    """

    unit = ""
    count_edits = staticmethod(word_edits)

    def __init__(self, decoder: str = "Argmax") -> None:
        self.decoder = decoder
        self.name = f"{self.unit}_({decoder})"

    def __call__(self, predictions: dict[str, list[str]], text: Sequence[str], **batch: Any):
        edits = reference_length = 0
        for reference, hypothesis in zip(text, predictions[self.decoder], strict=True):
            counts = self.count_edits(reference, hypothesis)
            edits += counts.edits
            reference_length += counts.reference_length
        return edits, reference_length


class WERMetric(ErrorRateMetric):
    unit = "WER"
    count_edits = staticmethod(word_edits)


class CERMetric(ErrorRateMetric):
    unit = "CER"
    count_edits = staticmethod(char_edits)
