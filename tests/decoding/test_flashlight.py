"""flashlight-text's C++ beam search with the tiny KenLM models: lexicon-based and lexicon-free,
and its scores against pyctcdecode's for the same LM and weights."""

import subprocess

import numpy as np
import pytest
import torch

from src.decoding import BeamSearchDecoder, FlashlightDecoder, LMBeamSearchDecoder
from src.lm.build import build_lm
from src.lm.tools import find_tool
from tests.decoding.tiny_lm import ENCODER, ambiguous_red_rad, frames_for, write_arpa


@pytest.fixture
def arpa_path(tmp_path):
    return write_arpa(tmp_path / "tiny.arpa")


UNPRUNED = {"beam_size_token": None, "beam_threshold": 1e3}  # for frames with tied tokens


def best(decoder, log_probs):
    return decoder.decode_utterances([log_probs])[0]


def test_the_lm_weight_turns_the_acoustic_choice_towards_the_likelier_words(arpa_path):
    decoder = FlashlightDecoder(ENCODER, lm_path=arpa_path, alpha=0.0, beta=0.0)
    acoustic = best(decoder, ambiguous_red_rad())
    assert acoustic.text == "rad car" and acoustic.lm_score == 0.0
    decoder.set_params(alpha=0.5, beta=0.0)
    fused = best(decoder, ambiguous_red_rad())
    assert fused.text == "red car"
    assert fused.logit_score < acoustic.logit_score and fused.lm_score < 0
    assert fused.score == pytest.approx(fused.logit_score + fused.lm_score)


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (1.5, 2.0)])
def test_same_weights_same_objective_as_pyctcdecode(arpa_path, alpha, beta):
    """alpha weighs ln P_LM and beta counts words in both: with the best alignment's score
    (log_add off: pyctcdecode's logit score is that of its best beam), the scores agree."""
    utterances = [ambiguous_red_rad(), frames_for("car"), frames_for("red red car")]
    flashlight = FlashlightDecoder(
        ENCODER, lm_path=arpa_path, alpha=alpha, beta=beta, log_add=False
    )
    pyctcdecode = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=alpha, beta=beta)
    for ours, theirs in zip(
        flashlight.decode_utterances(utterances),
        pyctcdecode.decode_utterances(utterances),
        strict=True,
    ):
        assert ours.text == theirs.text
        assert ours.logit_score == pytest.approx(theirs.logit_score, abs=1e-3)
        assert ours.lm_score == pytest.approx(theirs.lm_score, abs=1e-3)


def test_summed_alignments_approach_the_exact_sum():
    """With log_add the acoustic score sums a text's alignments: close to the hand-written
    search's exact sum (flashlight keeps a leading space apart), above the best alignment's."""
    exact = BeamSearchDecoder(ENCODER, beam_width=1000, token_min_logp=None, beam_prune_logp=None)
    settings = {"lexicon_free": True, "beta": 0.0, "beam_size_token": None, "beam_threshold": 1e3}
    summed = FlashlightDecoder(ENCODER, **settings)
    best_path = FlashlightDecoder(ENCODER, **settings, log_add=False)
    utterances = [ambiguous_red_rad(), frames_for("car"), frames_for("red red car")]
    for ours, viterbi, truth in zip(
        summed.decode_utterances(utterances),
        best_path.decode_utterances(utterances),
        exact.decode_utterances(utterances),
        strict=True,
    ):
        assert ours.text == viterbi.text == truth.text
        assert viterbi.logit_score < ours.logit_score <= truth.logit_score + 1e-9
        assert ours.logit_score == pytest.approx(truth.logit_score, abs=0.01)


def test_beta_rewards_words(arpa_path):
    decoder = FlashlightDecoder(ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0)
    plain = best(decoder, frames_for("red car"))
    decoder.set_params(alpha=0.5, beta=2.0)
    rewarded = best(decoder, frames_for("red car"))
    assert plain.text == rewarded.text == "red car"
    assert rewarded.lm_score == pytest.approx(plain.lm_score + 2 * 2.0, abs=1e-4)


def test_lexicon_decoding_spells_only_lexicon_words(arpa_path):
    cat = frames_for("cat")  # "cat" is no word of the LM
    lexicon = FlashlightDecoder(ENCODER, lm_path=arpa_path, alpha=0.0, **UNPRUNED)
    assert best(lexicon, cat).text == "car"
    free = FlashlightDecoder(ENCODER, lexicon_free=True, **UNPRUNED)
    assert best(free, cat).text == "cat"


def test_the_unigrams_file_is_the_lexicon(arpa_path, tmp_path):
    unigrams = tmp_path / "unigrams.txt"
    unigrams.write_text("rad\ncar\n")  # no "red": the LM cannot pull towards it
    decoder = FlashlightDecoder(ENCODER, lm_path=arpa_path, unigrams_path=unigrams, alpha=2.0)
    assert best(decoder, ambiguous_red_rad()).text == "rad car"


def test_a_lexicon_file_gives_words_their_spellings(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("car\tc a r |\nred\tr a d\n")  # "red" as the model spells it
    decoder = FlashlightDecoder(ENCODER, lexicon_path=lexicon, alpha=0.0, beta=0.0, **UNPRUNED)
    assert best(decoder, frames_for("rad car")).text == "red car"  # the word, not its spelling
    [[first, second]] = decoder.decode_n_best([frames_for("rad car")], n_best=2)
    assert second.score < first.score


def test_kenlm_binary_decodes_like_the_arpa(arpa_path, tmp_path):
    build_binary = find_tool("build_binary")
    if build_binary is None:
        pytest.skip("KenLM's build_binary is not installed: cannot make a binary LM")
    binary = tmp_path / "tiny.bin"
    subprocess.run([build_binary, str(arpa_path), str(binary)], check=True, capture_output=True)
    with pytest.raises(ValueError, match="unigrams_path"):
        FlashlightDecoder(ENCODER, lm_path=binary)
    unigrams = tmp_path / "unigrams.txt"
    unigrams.write_text("red rad car")
    utterances = [ambiguous_red_rad(), frames_for("car")]
    from_binary = FlashlightDecoder(ENCODER, lm_path=binary, unigrams_path=unigrams)
    from_arpa = FlashlightDecoder(ENCODER, lm_path=arpa_path)
    for binary_best, arpa_best in zip(
        from_binary.decode_utterances(utterances),
        from_arpa.decode_utterances(utterances),
        strict=True,
    ):
        assert binary_best.text == arpa_best.text
        assert binary_best.scores() == pytest.approx(arpa_best.scores(), abs=1e-4)


def test_lexicon_free_with_a_character_lm(tmp_path):
    if find_tool("lmplz") is None or find_tool("build_binary") is None:
        pytest.skip("KenLM's lmplz/build_binary are not installed: cannot make a character LM")
    lm = build_lm(["red car", "a red car", "red", "car"] * 5, tmp_path, "tiny", 4, "chars")
    decoder = FlashlightDecoder(ENCODER, lm_path=lm.binary, lexicon_free=True, alpha=0.0, beta=0)
    assert best(decoder, ambiguous_red_rad()).text == "rad car"
    decoder.set_params(alpha=1.0, beta=0.0)
    fused = best(decoder, ambiguous_red_rad())
    assert fused.text == "red car" and fused.lm_score < 0


def test_n_best_are_distinct_and_ranked(arpa_path):
    decoder = FlashlightDecoder(ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0, **UNPRUNED)
    [hypotheses] = decoder.decode_n_best([ambiguous_red_rad()], n_best=3)
    assert [h.text for h in hypotheses[:2]] == ["red car", "rad car"]
    assert len({h.text for h in hypotheses}) == len(hypotheses) == 3
    scores = [h.score for h in hypotheses]
    assert scores == sorted(scores, reverse=True)
    assert hypotheses[0] == best(decoder, ambiguous_red_rad())


def test_batch_lengths_and_empty_utterances(arpa_path):
    utterances = [frames_for("car"), frames_for("red car")]
    batch = torch.full((3, len(utterances[1]), len(ENCODER)), float(np.log(1 / len(ENCODER))))
    for index, log_probs in enumerate(utterances):
        batch[index, : len(log_probs)] = torch.from_numpy(log_probs)
    lengths = torch.tensor([len(utterances[0]), len(utterances[1]), 0])
    for decoder in (
        FlashlightDecoder(ENCODER, lm_path=arpa_path),
        FlashlightDecoder(ENCODER, lexicon_free=True),
    ):
        assert decoder.decode(batch, lengths) == ["car", "red car", ""]


def test_bad_settings_and_files_are_clear_errors(arpa_path, tmp_path):
    with pytest.raises(ValueError, match="needs words"):
        FlashlightDecoder(ENCODER)
    with pytest.raises(FileNotFoundError, match="lexicon not found"):
        FlashlightDecoder(ENCODER, lexicon_path=tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("red\tr E d\n")
    with pytest.raises(ValueError, match=r"bad.txt: 'red' is spelled with unknown tokens \{'E'\}"):
        FlashlightDecoder(ENCODER, lexicon_path=bad)
    with pytest.raises(ValueError, match="no lexicon_path"):
        FlashlightDecoder(ENCODER, lexicon_free=True, lexicon_path=bad)
    with pytest.raises(FileNotFoundError, match="language model not found"):
        FlashlightDecoder(ENCODER, lm_path=tmp_path / "missing.arpa")
    garbage = tmp_path / "garbage.bin"
    garbage.write_text("not an lm\n")
    with pytest.raises(ValueError, match="garbage.bin: not a KenLM model"):
        FlashlightDecoder(ENCODER, lm_path=garbage, unigrams_path=arpa_path)
