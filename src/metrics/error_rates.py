"""Word and character edit counts through jiwer, plus corpus-level WER/CER metrics."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import jiwer
from hydra.utils import instantiate
from omegaconf import DictConfig


class EditCounts(NamedTuple):
    """Edit operations needed to turn a reference into a hypothesis (or a corpus of them)."""

    edits: int
    reference_length: int

    def __add__(self, other: "EditCounts") -> "EditCounts":  # type: ignore[override]
        return EditCounts(self.edits + other.edits, self.reference_length + other.reference_length)


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
    """Edits over reference length. The one definition for an empty reference (an utterance's
    or a whole corpus's): 0 when the hypothesis is empty too, else 1 (100%)."""
    if counts.reference_length == 0:
        return float(counts.edits > 0)
    return counts.edits / counts.reference_length


EditCounter = Callable[[str, str], EditCounts]


def corpus_edits(count_edits: EditCounter, pairs: Iterable[tuple[str, str]]) -> EditCounts:
    """Total edits and reference length over (reference, hypothesis) pairs."""
    return sum((count_edits(ref, hyp) for ref, hyp in pairs), EditCounts(0, 0))


def corpus_error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[float, float]:
    """Corpus (WER, CER): total edits over total reference words / characters."""
    pairs = list(zip(references, hypotheses, strict=True))
    return (
        error_rate(corpus_edits(word_edits, pairs)),
        error_rate(corpus_edits(char_edits, pairs)),
    )


def utterance_error_rates(reference: str, hypothesis: str) -> tuple[float, float]:
    """One utterance's (WER, CER)."""
    return (
        error_rate(word_edits(reference, hypothesis)),
        error_rate(char_edits(reference, hypothesis)),
    )


class ErrorRateMetric:
    """Corpus-level error rate of one decoder's hypotheses: total edits / total reference units.

    Called on a batch it returns its `EditCounts` for the tracker to sum across batches.
    """

    unit = ""
    count_edits = staticmethod(word_edits)

    def __init__(self, decoder: str = "Argmax") -> None:
        self.decoder = decoder
        self.name = f"{self.unit}_({decoder})"

    def __call__(
        self, predictions: dict[str, list[str]], text: Sequence[str], **batch: Any
    ) -> EditCounts:
        return corpus_edits(self.count_edits, zip(text, predictions[self.decoder], strict=True))


class WERMetric(ErrorRateMetric):
    unit = "WER"
    count_edits = staticmethod(word_edits)


class CERMetric(ErrorRateMetric):
    unit = "CER"
    count_edits = staticmethod(char_edits)


def build_metrics(
    metrics_config: DictConfig, decoder_names: Sequence[str]
) -> list[ErrorRateMetric]:
    """Every configured metric, once per decoder."""
    factories = [instantiate(config) for config in metrics_config]
    return [factory(decoder=name) for name in decoder_names for factory in factories]
