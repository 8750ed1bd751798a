"""Word timestamps by forced alignment, the same for every decoder's text."""

import numpy as np
import pytest

from src.decoding import ArgmaxDecoder, BeamSearchDecoder
from src.decoding.timestamps import align_words
from src.text_encoder import CTCCharTextEncoder

ENCODER = CTCCharTextEncoder()
STRIDE = 0.03


def peaky(path: str, confident: float = 0.9) -> np.ndarray:
    """Log-probs whose best path is `path`, one character per frame ("_" = blank)."""
    tokens = [ENCODER.char_to_index.get(char, ENCODER.blank_index) for char in path]
    probabilities = np.full((len(tokens), len(ENCODER)), (1 - confident) / (len(ENCODER) - 1))
    probabilities[np.arange(len(tokens)), tokens] = confident
    return np.log(probabilities).astype(np.float32)


def test_words_start_and_end_with_their_characters_frames():
    frames = peaky("__hh_i___ _yo_u__")
    words = align_words(frames, "hi you", ENCODER, STRIDE, offset=1.0)
    assert [word.word for word in words] == ["hi", "you"]
    # "hi": frames 2..5 (h h _ i), "you": frames 11..14; a frame spans half a stride around it
    assert words[0].start == pytest.approx(1.0 + 1.5 * STRIDE)
    assert words[0].end == pytest.approx(1.0 + 5.5 * STRIDE)
    assert words[1].start == pytest.approx(1.0 + 10.5 * STRIDE)
    assert words[1].end == pytest.approx(1.0 + 14.5 * STRIDE)
    for word in words:
        assert word.confidence == pytest.approx(0.9, abs=1e-5)


def test_confidence_is_the_mean_posterior_of_the_aligned_frames():
    frames = np.concatenate([peaky("a_"), peaky("b", confident=0.5)])
    (word,) = align_words(frames, "ab", ENCODER, STRIDE)
    assert word.confidence == pytest.approx((0.9 + 0.5) / 2, abs=1e-5)
    assert word.start == 0.0  # the first frame's interval is clipped at the recording start


@pytest.mark.parametrize("decoder", [ArgmaxDecoder(ENCODER), BeamSearchDecoder(ENCODER)])
def test_every_decoder_gets_timings_for_its_own_text(decoder):
    frames = peaky("_th_e__ _c_a_t_ __s_a_t__")
    (hypothesis,) = decoder.decode_utterances([frames])
    words = align_words(frames, hypothesis.text, ENCODER, STRIDE)
    assert " ".join(word.word for word in words) == hypothesis.text == "the cat sat"
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert all(word.end > word.start for word in words)


def test_a_text_the_frames_cannot_spell_is_an_error_and_empty_text_has_no_words():
    with pytest.raises(ValueError, match="cannot be aligned to 3 frames"):
        align_words(peaky("a_b"), "aaaa", ENCODER, STRIDE)
    assert align_words(peaky("___"), "", ENCODER, STRIDE) == []
