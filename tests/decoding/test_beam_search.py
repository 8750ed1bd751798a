"""The hand-written prefix beam search against an exhaustive sum over all CTC alignments."""

import itertools
from collections import defaultdict

import numpy as np
import pytest
import torch

from src.decoding import BeamSearchDecoder
from src.text_encoder import CTCCharTextEncoder, SentencePieceTextEncoder, TextEncoder

TINY = CTCCharTextEncoder(alphabet=["a", "b"])  # blank + 2 tokens
WITH_SPACE = CTCCharTextEncoder(alphabet=["a", " "])


def random_log_probs(rng: np.random.Generator, frames: int, tokens: int = 3) -> np.ndarray:
    logits = rng.normal(scale=2.0, size=(frames, tokens))
    return (logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)).astype(np.float32)


def collapse(path: tuple[int, ...], blank: int = 0) -> tuple[int, ...]:
    merged = [token for index, token in enumerate(path) if index == 0 or token != path[index - 1]]
    return tuple(token for token in merged if token != blank)


def exhaustive(
    log_probs: np.ndarray, encoder: TextEncoder = TINY, tokens: list[int] | None = None
) -> dict[str, float]:
    """log P(text) for every text: enumerate every alignment (path) over `tokens` (None: all;
    the others must have probability 0), collapse it, spell it (extra spaces dropped) and sum
    the probabilities of the paths per text."""
    frames = log_probs.shape[0]
    tokens = range(log_probs.shape[1]) if tokens is None else tokens
    probabilities = defaultdict(float)
    for path in itertools.product(tokens, repeat=frames):
        text = encoder.labels_to_text(collapse(path))
        probabilities[text] += np.exp(log_probs[np.arange(frames), path].sum(dtype=float))
    return {text: float(np.log(p)) for text, p in probabilities.items()}


def best_text(log_probs: np.ndarray) -> str:
    expected = exhaustive(log_probs)
    return max(expected, key=expected.get)


def exact_decoder(encoder: TextEncoder = TINY, **options) -> BeamSearchDecoder:
    """Wide enough for every prefix of up to 6 frames, no pruning."""
    settings = {"beam_width": 1000, "token_min_logp": None, "beam_prune_logp": None} | options
    return BeamSearchDecoder(encoder, **settings)


@pytest.mark.parametrize("encoder", [TINY, WITH_SPACE], ids=["a-b", "a-space"])
@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed", range(4))
def test_every_text_probability_equals_the_exhaustive_sum(encoder, frames, seed):
    log_probs = random_log_probs(np.random.default_rng(100 * frames + seed), frames)
    expected = exhaustive(log_probs, encoder)
    beams = exact_decoder(encoder).search(log_probs)
    assert {beam.text for beam in beams} == set(expected)
    for beam in beams:
        assert beam.log_prob == pytest.approx(expected[beam.text], abs=1e-5)
    assert beams[0].text == max(expected, key=expected.get)


@pytest.fixture(scope="module")
def subwords(tmp_path_factory) -> tuple[SentencePieceTextEncoder, list[int]]:
    """A BPE model whose pieces spell "ab" five ways (`▁ab`, `▁a b`, `▁ a b`, `a b`, `▁ ab`...),
    and the blank plus those pieces (the tokens the tests give probability)."""
    encoder = SentencePieceTextEncoder.from_transcripts(
        ["ab ab ab a", "a b ab", "ab ba b", "ba ab"] * 3, 32, "bpe", tmp_path_factory.mktemp("spm")
    )
    tokens = [0] + [
        encoder.vocab.index(piece) for piece in ["\u2581a", "\u2581ab", "\u2581", "a", "b"]
    ]
    return encoder, tokens


def test_subword_sequences_spell_the_same_text(subwords):
    encoder, (_, a_word, ab_word, boundary, a, b) = subwords
    spellings = [[ab_word], [a_word, b], [boundary, a, b], [a, b], [boundary, ab_word]]
    assert {encoder.labels_to_text(labels) for labels in spellings} == {"ab"}
    assert encoder.labels_to_text([a_word, boundary, b]) == "a b"


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(3))
def test_subword_text_probabilities_equal_the_exhaustive_sum(subwords, frames, seed):
    """Over subwords, different label sequences spell one text: their probabilities add up."""
    encoder, tokens = subwords
    log_probs = np.full((frames, len(encoder)), -np.inf, dtype=np.float32)
    rng = np.random.default_rng(10 * frames + seed)
    log_probs[:, tokens] = random_log_probs(rng, frames, len(tokens))
    expected = exhaustive(log_probs, encoder, tokens)
    beams = exact_decoder(encoder, beam_width=10_000).search(log_probs)  # every prefix
    assert len(beams) == len({beam.text for beam in beams})
    assert {beam.text for beam in beams} == set(expected)
    for beam in beams:
        assert beam.log_prob == pytest.approx(expected[beam.text], abs=1e-5)
    assert beams[0].text == max(expected, key=expected.get)


def test_best_hypothesis_text_and_score_match_the_exhaustive_best():
    rng = np.random.default_rng(7)
    for frames in (3, 5, 6):
        log_probs = random_log_probs(rng, frames)
        expected = exhaustive(log_probs)
        [hypothesis] = exact_decoder().decode_utterances([log_probs])
        assert hypothesis.text == best_text(log_probs)
        assert hypothesis.logit_score == pytest.approx(expected[hypothesis.text], abs=1e-5)
        assert hypothesis.score == hypothesis.logit_score and hypothesis.lm_score is None


@pytest.mark.parametrize("encoder", [TINY, WITH_SPACE], ids=["a-b", "a-space"])
@pytest.mark.parametrize("seed", range(3))
def test_n_best_are_the_k_most_probable_texts_of_the_exhaustive_sum(encoder, seed):
    log_probs = random_log_probs(np.random.default_rng(50 + seed), 5)
    expected = sorted(exhaustive(log_probs, encoder).items(), key=lambda item: -item[1])
    [n_best] = exact_decoder(encoder).decode_n_best([log_probs], n_best=4)
    assert len(n_best) == 4
    for hypothesis, (text, log_prob) in zip(n_best, expected, strict=False):
        assert hypothesis.text == text
        assert hypothesis.logit_score == pytest.approx(log_prob, abs=1e-5)
    [[best]] = exact_decoder(encoder).decode_n_best([log_probs], n_best=1)
    assert best == n_best[0]


def test_spaces_that_spell_the_same_text_are_one_hypothesis():
    # " a", "a", "a " and "a  a"-like spellings: the beam must sum them per text.
    probabilities = np.array([[0.2, 0.4, 0.4], [0.2, 0.4, 0.4], [0.2, 0.4, 0.4]])
    log_probs = np.log(probabilities).astype(np.float32)
    beams = exact_decoder(WITH_SPACE).search(log_probs)
    assert len({beam.text for beam in beams}) == len(beams)
    assert all(beam.text == beam.text.strip() and "  " not in beam.text for beam in beams)
    expected = exhaustive(log_probs, WITH_SPACE)
    assert beams[0].text == max(expected, key=expected.get)
    assert sum(np.exp(beam.log_prob) for beam in beams) == pytest.approx(1.0)


def test_repeated_label_needs_a_blank_in_between():
    # Frames certain of "a", "a": a single "a". Frames "a", blank, "a": "aa".
    certain = np.log(np.full((3, 3), 1e-9) + np.eye(3)[[1, 1, 1]]).astype(np.float32)
    assert exact_decoder().decode_utterances([certain])[0].text == "a"
    separated = np.log(np.full((3, 3), 1e-9) + np.eye(3)[[1, 0, 1]]).astype(np.float32)
    assert exact_decoder().decode_utterances([separated])[0].text == "aa"


def test_prefix_search_can_beat_the_best_path():
    # The best single path is blank-blank (0.36), but "a" totals 0.64 over its three paths.
    probabilities = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0]]) + 1e-12
    log_probs = np.log(probabilities).astype(np.float32)
    [hypothesis] = exact_decoder().decode_utterances([log_probs])
    assert hypothesis.text == "a"
    assert hypothesis.logit_score == pytest.approx(np.log(0.64), abs=1e-6)


def test_batch_respects_each_utterance_length():
    rng = np.random.default_rng(3)
    utterances = [random_log_probs(rng, frames) for frames in (6, 2, 4)]
    batch = torch.full((3, 6, 3), -3.0)  # padding that would change the answer if read
    for index, log_probs in enumerate(utterances):
        batch[index, : len(log_probs)] = torch.from_numpy(log_probs)
    lengths = torch.tensor([6, 2, 4])
    decoder = exact_decoder()
    assert decoder.decode_hypotheses(batch, lengths) == decoder.decode_utterances(utterances)
    assert decoder.decode(batch, lengths) == [best_text(u) for u in utterances]


def test_empty_utterance_decodes_to_empty_text():
    [hypothesis] = exact_decoder().decode_utterances([np.zeros((0, 3), dtype=np.float32)])
    assert hypothesis.text == "" and hypothesis.logit_score == 0.0


def test_narrow_beam_keeps_at_most_beam_width_prefixes():
    log_probs = random_log_probs(np.random.default_rng(11), 6)
    assert len(exact_decoder(beam_width=3).search(log_probs)) <= 3


def test_token_pruning_skips_unlikely_labels_but_keeps_the_frame_best():
    # "b" is never above -5 and never the frame's best: pruned, it can never appear.
    probabilities = np.array([[0.5, 0.497, 0.003], [0.2, 0.797, 0.003], [0.6, 0.397, 0.003]])
    log_probs = np.log(probabilities).astype(np.float32)
    pruned = exact_decoder(token_min_logp=-5.0).search(log_probs)
    assert all("b" not in beam.text for beam in pruned)
    assert any("b" in beam.text for beam in exact_decoder().search(log_probs))
    assert all("b" not in beam.text for beam in exact_decoder(top_k=1).search(log_probs))
    assert any("b" in beam.text for beam in exact_decoder(top_k=2).search(log_probs))


def test_agrees_with_argmax_when_every_frame_is_certain():
    encoder = CTCCharTextEncoder()
    path = [encoder.char_to_index[c] if c != "_" else 0 for c in "hh_e_ll_l_o__ _w_orld"]
    log_probs = np.full((len(path), len(encoder)), np.log(1e-6), dtype=np.float32)
    log_probs[np.arange(len(path)), path] = np.log(1 - 1e-6 * (len(encoder) - 1))
    [hypothesis] = BeamSearchDecoder(encoder).decode_utterances([log_probs])
    assert hypothesis.text == "hello world"


def test_bad_shapes_are_clear_errors():
    decoder = exact_decoder()
    with pytest.raises(ValueError, match="tokens"):
        decoder.decode(torch.zeros(1, 4, 5), torch.tensor([4]))
    with pytest.raises(ValueError, match="lengths"):
        decoder.decode(torch.zeros(2, 4, 3), torch.tensor([4, 9]))
