"""alpha/beta tuning: the grid search over cached log-probabilities."""

import pytest
import torch

from src.decoding import ArgmaxDecoder, FlashlightDecoder
from src.decoding.lm_beam_search import LMBeamSearchDecoder
from src.decoding.log_prob_cache import LogProbCache
from src.decoding.tune import GridPoint, best_point, grid_search, tunable
from tests.decoding.tiny_lm import ENCODER, ambiguous_red_rad, frames_for, write_arpa


def hand_made_cache() -> LogProbCache:
    utterances = [ambiguous_red_rad(), frames_for("car"), frames_for("red car")]
    return LogProbCache(
        ids=["a", "b", "c"],
        references=["red car", "car", "red car"],
        log_probs=[torch.from_numpy(u) for u in utterances],
        vocab=ENCODER.vocab,
        fingerprint={},
    )


@pytest.mark.parametrize("decoder_class", [LMBeamSearchDecoder, FlashlightDecoder])
def test_grid_search_finds_the_lm_weight_that_fixes_the_words(tmp_path, decoder_class):
    decoder = decoder_class(ENCODER, lm_path=write_arpa(tmp_path / "lm.arpa"))
    points = grid_search(decoder, hand_made_cache(), alphas=[0.0, 0.5], betas=[0.0, 1.0])
    assert [(p.alpha, p.beta) for p in points] == [(0.0, 0.0), (0.0, 1.0), (0.5, 0.0), (0.5, 1.0)]
    by_pair = {(p.alpha, p.beta): p for p in points}
    assert by_pair[0.0, 0.0].wer == pytest.approx(1 / 5)  # "rad car" for "red car"
    assert by_pair[0.5, 0.0].wer == 0.0
    assert best_point(points) == by_pair[0.5, 0.0]


def test_only_a_decoder_with_an_lm_can_be_tuned(tmp_path):
    lm = write_arpa(tmp_path / "lm.arpa")
    decoders = {
        "Argmax": ArgmaxDecoder(ENCODER),
        "NoLM": LMBeamSearchDecoder(ENCODER),
        "LM": FlashlightDecoder(ENCODER, lm_path=lm),
    }
    assert tunable(decoders, "LM") is decoders["LM"]
    for name in ("Argmax", "NoLM", "Missing"):
        with pytest.raises(ValueError, match=f"tune.decoder={name!r} must be a decoder with an LM"):
            tunable(decoders, name)


def test_best_point_breaks_wer_ties_by_cer_then_order():
    points = [GridPoint(0, 0, 0.2, 0.1), GridPoint(1, 0, 0.2, 0.05), GridPoint(2, 0, 0.2, 0.05)]
    assert best_point(points) == points[1]
