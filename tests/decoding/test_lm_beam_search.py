"""pyctcdecode beam search with a tiny hand-written KenLM model: fusion, formats, pooling."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from src.decoding import BeamSearchDecoder
from src.decoding.fusion import load_lm_params, save_lm_params
from src.decoding.lm_beam_search import LMBeamSearchDecoder
from src.lm.tools import find_tool
from src.text_encoder import SentencePieceTextEncoder
from tests.decoding.tiny_lm import ENCODER, ambiguous_red_rad, frames_for, write_arpa


@pytest.fixture
def arpa_path(tmp_path) -> Path:
    return write_arpa(tmp_path / "tiny.arpa")


def test_without_lm_the_acoustics_decide():
    [hypothesis] = LMBeamSearchDecoder(ENCODER).decode_utterances([ambiguous_red_rad()])
    assert hypothesis.text == "rad car"
    assert hypothesis.lm_score is None and hypothesis.score == hypothesis.logit_score
    assert -5 < hypothesis.logit_score < 0


def test_the_lm_turns_the_decision_towards_the_likelier_words(arpa_path):
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.0, beta=0.0)
    [acoustic] = decoder.decode_utterances([ambiguous_red_rad()])
    assert acoustic.text == "rad car"
    decoder.set_params(alpha=0.5, beta=0.0)
    [fused] = decoder.decode_utterances([ambiguous_red_rad()])
    assert fused.text == "red car"
    # The acoustic score dropped, the LM more than made up for it.
    assert fused.logit_score < acoustic.logit_score
    assert fused.score == pytest.approx(fused.logit_score + fused.lm_score)
    assert fused.lm_score < 0


def test_beta_rewards_words(arpa_path):
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0)
    [plain] = decoder.decode_utterances([frames_for("red car")])
    decoder.set_params(alpha=0.5, beta=2.0)
    [rewarded] = decoder.decode_utterances([frames_for("red car")])
    assert plain.text == rewarded.text == "red car"
    assert rewarded.lm_score == pytest.approx(plain.lm_score + 2 * 2.0, abs=1e-4)


def test_params_file_overrides_alpha_and_beta(arpa_path, tmp_path):
    params = save_lm_params(tmp_path / "lm_params.yaml", 0.5, 0.0, lm_path=str(arpa_path), wer=0.1)
    assert load_lm_params(params)["wer"] == 0.1
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.0, params_file=params)
    assert (decoder.alpha, decoder.beta) == (0.5, 0.0)
    assert decoder.decode_utterances([ambiguous_red_rad()])[0].text == "red car"


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="language model not found"):
        LMBeamSearchDecoder(ENCODER, lm_path=tmp_path / "missing.arpa")
    with pytest.raises(FileNotFoundError, match="LM params file not found"):
        LMBeamSearchDecoder(ENCODER, params_file=tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("alpha: high\n")
    with pytest.raises(ValueError, match="numeric 'alpha' and 'beta'"):
        LMBeamSearchDecoder(ENCODER, params_file=tmp_path / "bad.yaml")


def test_unigram_list_file_is_read(arpa_path, tmp_path):
    unigrams = tmp_path / "unigrams.txt"
    unigrams.write_text("red\nrad\ncar\n")
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, unigrams_path=unigrams, alpha=0.5)
    assert decoder.decode_utterances([ambiguous_red_rad()])[0].text == "red car"


def test_kenlm_binary_decodes_like_the_arpa(arpa_path, tmp_path):
    build_binary = find_tool("build_binary")
    if build_binary is None:
        pytest.skip("KenLM's build_binary is not installed: cannot make a binary LM")
    binary = tmp_path / "tiny.bin"
    subprocess.run([build_binary, str(arpa_path), str(binary)], check=True, capture_output=True)
    unigrams = tmp_path / "unigrams.txt"
    unigrams.write_text("red rad car")
    utterances = [ambiguous_red_rad(), frames_for("car")]
    from_arpa = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.5)
    from_binary = LMBeamSearchDecoder(ENCODER, lm_path=binary, unigrams_path=unigrams, alpha=0.5)
    for binary_best, arpa_best in zip(
        from_binary.decode_utterances(utterances),
        from_arpa.decode_utterances(utterances),
        strict=True,
    ):
        assert binary_best.text == arpa_best.text
        assert binary_best.scores() == pytest.approx(arpa_best.scores(), abs=1e-4)


def test_batch_lengths_and_empty_utterances():
    utterances = [frames_for("car"), frames_for("red car")]
    batch = torch.full((3, len(utterances[1]), len(ENCODER)), float(np.log(1 / len(ENCODER))))
    for index, log_probs in enumerate(utterances):
        batch[index, : len(log_probs)] = torch.from_numpy(log_probs)
    decoder = LMBeamSearchDecoder(ENCODER)
    texts = decoder.decode(batch, torch.tensor([len(utterances[0]), len(utterances[1]), 0]))
    assert texts == ["car", "red car", ""]


def test_a_hotword_recovers_a_rare_word_the_lm_overrules(arpa_path):
    """ "rad" is rare for the LM (log10 P = -3): fused, "red car" wins; boosted, "rad car"."""
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0)
    assert decoder.decode_utterances([ambiguous_red_rad()])[0].text == "red car"
    boosted = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0, hotwords=["rad"])
    [hypothesis] = boosted.decode_utterances([ambiguous_red_rad()])
    assert hypothesis.text == "rad car"
    assert hypothesis.score > decoder.decode_utterances([ambiguous_red_rad()])[0].score
    weak = LMBeamSearchDecoder(
        ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0, hotwords=["rad"], hotword_weight=0.1
    )
    assert weak.decode_utterances([ambiguous_red_rad()])[0].text == "red car"
    # Where the acoustics are clear, the boost does not invent the word.
    assert boosted.decode_utterances([frames_for("red car")])[0].text == "red car"


def test_n_best_are_distinct_ranked_and_start_with_the_best(arpa_path):
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, alpha=0.5, beta=0.0)
    [hypotheses] = decoder.decode_n_best([ambiguous_red_rad()], n_best=3)
    assert [h.text for h in hypotheses[:2]] == ["red car", "rad car"]
    assert len({h.text for h in hypotheses}) == len(hypotheses)
    scores = [h.score for h in hypotheses]
    assert scores == sorted(scores, reverse=True)
    assert hypotheses[0] == decoder.decode_utterances([ambiguous_red_rad()])[0]


@pytest.fixture(scope="module")
def subwords(tmp_path_factory) -> SentencePieceTextEncoder:
    """BPE units of the tiny LM's words: `▁car` and `▁r` are pieces, `red`/`rad` are not."""
    encoder = SentencePieceTextEncoder.from_transcripts(
        ["red car", "rad car", "a red car", "the rad car"] * 3,
        34,
        "bpe",
        tmp_path_factory.mktemp("spm"),
    )
    assert {"\u2581car", "\u2581r"} <= set(encoder.vocab) and "\u2581red" not in encoder.vocab
    return encoder


def subword_frames(encoder: SentencePieceTextEncoder, pieces: list[str]) -> np.ndarray:
    """Log-probs spelling `pieces`: one frame per piece (0.9), each followed by a blank."""
    rows = []
    for piece in pieces:
        for token in (encoder.vocab.index(piece), 0):
            row = np.full(len(encoder), 0.1 / (len(encoder) - 1))
            row[token] = 0.9
            rows.append(row)
    return np.log(np.array(rows)).astype(np.float32)


def test_subword_labels_decode_to_words_with_and_without_the_lm(subwords, arpa_path):
    """`▁r` + (a 0.55 | e 0.40) + `d` + `▁car`: "rad car" by ear, "red car" with the LM."""
    log_probs = subword_frames(subwords, ["\u2581r", "a", "d", "\u2581car"])
    vowel = np.full(len(subwords), 0.05 / (len(subwords) - 2))
    vowel[subwords.vocab.index("a")], vowel[subwords.vocab.index("e")] = 0.55, 0.40
    log_probs[2] = np.log(vowel)
    [acoustic] = LMBeamSearchDecoder(subwords).decode_utterances([log_probs])
    assert acoustic.text == "rad car"
    [fused] = LMBeamSearchDecoder(
        subwords, lm_path=arpa_path, alpha=0.5, beta=0.0
    ).decode_utterances([log_probs])
    assert fused.text == "red car" and fused.lm_score < 0


def test_subword_beams_agree_with_the_hand_written_search(subwords):
    """Without an LM both beam searches find the same texts over subword labels."""
    rng = np.random.default_rng(0)
    pieces = [
        ["\u2581car"],
        ["\u2581r", "e", "d", "\u2581car"],
        ["\u2581", "c", "ar", "\u2581r", "ad"],
    ]
    utterances = []
    for index in range(9):
        log_probs = subword_frames(subwords, pieces[index % 3])
        log_probs = log_probs + rng.normal(0, 1.0, log_probs.shape)
        log_probs -= np.logaddexp.reduce(log_probs, axis=1, keepdims=True)
        utterances.append(log_probs.astype(np.float32))
    pyctcdecode = [h.text for h in LMBeamSearchDecoder(subwords).decode_utterances(utterances)]
    hand_written = [h.text for h in BeamSearchDecoder(subwords).decode_utterances(utterances)]
    assert pyctcdecode == hand_written
    assert {"car", "red car", "car rad"} <= set(pyctcdecode)
