"""Hand-computed word/character edit counts and corpus-level WER/CER aggregation."""

import pytest
import torch

from src.metrics.error_rates import (
    CERMetric,
    EditCounts,
    WERMetric,
    char_edits,
    corpus_error_rates,
    error_rate,
    utterance_error_rates,
    word_edits,
)
from src.metrics.tracker import MetricTracker, rates


@pytest.mark.parametrize(
    ("reference", "hypothesis", "edits", "length"),
    [
        ("the cat sat", "the cat sat", 0, 3),
        ("the cat sat", "the cat sit", 1, 3),  # substitution
        ("the cat", "the black cat", 1, 2),  # insertion
        ("the black cat", "the cat", 1, 3),  # deletion
        ("a b c d", "x b d", 2, 4),  # substitution + deletion
        ("the cat sat", "", 3, 3),  # empty hypothesis: every word deleted
        ("", "", 0, 0),
        ("", "hi there", 2, 0),  # empty reference: every word inserted
    ],
)
def test_word_edits(reference, hypothesis, edits, length):
    assert word_edits(reference, hypothesis) == EditCounts(edits, length)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "edits", "length"),
    [
        ("cat", "cat", 0, 3),
        ("cat", "cut", 1, 3),  # substitution
        ("cat", "cart", 1, 3),  # insertion
        ("cart", "cat", 1, 4),  # deletion
        ("a b", "ab", 1, 3),  # spaces are characters
        ("the cat", "", 7, 7),  # empty hypothesis
        ("", "", 0, 0),
        ("", "ab", 2, 0),  # empty reference
    ],
)
def test_char_edits(reference, hypothesis, edits, length):
    assert char_edits(reference, hypothesis) == EditCounts(edits, length)


@pytest.mark.parametrize(
    ("counts", "rate"),
    [
        (EditCounts(0, 3), 0.0),
        (EditCounts(1, 3), 1 / 3),
        (EditCounts(3, 3), 1.0),
        (EditCounts(4, 2), 2.0),  # insertions can push a rate above 1
        (EditCounts(0, 0), 0.0),  # empty reference, empty hypothesis
        (EditCounts(1, 0), 1.0),  # empty reference, any hypothesis
        (EditCounts(5, 0), 1.0),
    ],
)
def test_error_rate(counts, rate):
    assert error_rate(counts) == pytest.approx(rate)


# Two batches of three utterances, with per-utterance edits worked out by hand:
#   words: 1/3, 0/1, 2/4 | 1/2, 1/1, 2/1      characters: 1/11, 0/5, 4/7 | 3/12, 3/3, 4/1
BATCHES = [
    (
        ["the cat sat", "hello", "a b c d"],
        ["the cat sit", "hello", "a c"],
    ),
    (
        ["good morning", "yes", "x"],
        ["good evening", "", "x y z"],
    ),
]


def test_metric_names():
    assert WERMetric().name == "WER_(Argmax)"
    assert CERMetric().name == "CER_(Argmax)"
    assert WERMetric(decoder="BeamSearch").name == "WER_(BeamSearch)"


def test_metrics_on_one_batch_return_edits_and_reference_length():
    references, hypotheses = BATCHES[0]
    predictions = {"Argmax": hypotheses}
    assert WERMetric()(predictions=predictions, text=references) == (3, 8)
    assert CERMetric()(predictions=predictions, text=references) == (5, 23)


def test_metrics_read_their_own_decoder_and_ignore_extra_batch_keys():
    references, hypotheses = BATCHES[0]
    predictions = {"Argmax": references, "BeamSearch": hypotheses}
    batch = {"predictions": predictions, "text": references, "audio_path": ["a", "b", "c"]}
    assert WERMetric()(**batch) == (0, 8)
    assert WERMetric(decoder="BeamSearch")(**batch) == (3, 8)


def test_metrics_reject_mismatched_batch_sizes():
    with pytest.raises(ValueError):
        WERMetric()(predictions={"Argmax": ["a"]}, text=["a", "b"])


def test_tracker_aggregates_corpus_level_rates_across_batches():
    metrics = [WERMetric(), CERMetric()]
    tracker = MetricTracker()
    for references, hypotheses in BATCHES:
        for metric in metrics:
            tracker.update(
                metric.name, *metric(predictions={"Argmax": hypotheses}, text=references)
            )

    # Corpus level: total edits / total reference units.
    assert tracker.result()["WER_(Argmax)"] == pytest.approx((3 + 4) / (8 + 4))  # 7/12 = 0.583
    assert tracker.result()["CER_(Argmax)"] == pytest.approx((5 + 10) / (23 + 16))  # 15/39
    assert tracker.totals() == {"WER_(Argmax)": (7, 12), "CER_(Argmax)": (15, 39)}

    # ... which is neither the mean of per-utterance rates nor the mean of per-batch rates.
    pairs = [pair for refs, hyps in BATCHES for pair in zip(refs, hyps, strict=True)]
    per_utterance = [utterance_error_rates(*pair)[0] for pair in pairs]
    per_batch = [corpus_error_rates(*batch)[0] for batch in BATCHES]
    wer = tracker.result()["WER_(Argmax)"]
    assert wer != pytest.approx(sum(per_utterance) / len(per_utterance))
    assert wer != pytest.approx(sum(per_batch) / len(per_batch))

    tracker.reset()
    assert tracker.result() == {}
    assert rates({"WER_(Argmax)": (0, 0)}) == {"WER_(Argmax)": 0.0}  # no data: not an error


def test_tracker_sums_tensors_where_they_are_and_numbers_beside_them():
    """Losses arrive as device tensors every step: summed as float64 tensors (no read), mixed
    with plain counts, read together once; a checkpoint's plain totals continue the sums."""
    tracker = MetricTracker()
    for loss, size in ((torch.tensor(0.5), 4), (torch.tensor(1.25), 2)):
        tracker.update("loss", loss * size, size)
    tracker.update("WER", 3, 8)
    numerator = tracker._totals["loss"][0]
    assert torch.is_tensor(numerator) and numerator.dtype == torch.float64
    assert tracker.totals() == {"loss": (4.5, 6.0), "WER": (3.0, 8.0)}
    assert tracker.result() == {"loss": 0.75, "WER": 3 / 8}
    resumed = MetricTracker()
    resumed.load_state_dict(tracker.state_dict())
    resumed.update("loss", torch.tensor(1.5), 1)
    assert resumed.totals()["loss"] == (6.0, 7.0)


def test_utterance_error_rates_by_hand():
    # one word deleted of three; "a " is two of the nine reference characters
    assert utterance_error_rates("a red car", "red car") == pytest.approx((1 / 3, 2 / 9))
    assert utterance_error_rates("", "") == (0.0, 0.0)


def test_corpus_error_rates_pool_edits_over_all_utterances():
    wer, cer = corpus_error_rates(["red car", "car"], ["rad car", "car"])
    assert wer == pytest.approx(1 / 3)
    assert cer == pytest.approx(1 / 10)
