"""Long sequences cut at blank runs for the decoders."""

import numpy as np
import pytest

from src.decoding import ArgmaxDecoder
from src.decoding.segments import BlankSegmenter
from src.text_encoder import CTCCharTextEncoder

ENCODER = CTCCharTextEncoder()


def speech_like(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Random log-probs whose best paths have words and, between them, pauses of 1-40 blank
    frames with a space in the middle (as a model spells a pause between words)."""
    logits = rng.normal(size=(frames, len(ENCODER)))
    logits[:, ENCODER.char_to_index[" "]] -= 10  # spaces only in pauses
    position = 0
    while position < frames:
        pause = int(rng.integers(1, 40))
        logits[position : position + pause, ENCODER.blank_index] += 10
        logits[position + pause // 2, ENCODER.char_to_index[" "]] += 30
        position += pause + int(rng.integers(5, 60))
    return (logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)).astype(np.float32)


def blocks_of(frames: np.ndarray, size: int) -> list[np.ndarray]:
    return [frames[start : start + size] for start in range(0, len(frames), size)]


@pytest.mark.parametrize("block", [1, 37, 500])
def test_segments_tile_the_sequence_are_bounded_and_cut_in_blank_runs(block):
    frames = speech_like(np.random.default_rng(0), 5000)
    segmenter = BlankSegmenter(min_blank_frames=10, min_frames=100, max_frames=400)
    segments = list(segmenter.split(blocks_of(frames, block)))
    assert [s.start for s in segments] == np.cumsum(
        [0] + [len(s.log_probs) for s in segments[:-1]]
    ).tolist()
    np.testing.assert_array_equal(np.concatenate([s.log_probs for s in segments]), frames)
    assert all(len(s.log_probs) <= 400 for s in segments)
    assert len(segments) > 5
    for segment in segments[1:]:  # each cut is inside a run of blanks
        assert frames[segment.start].argmax() == 0 and frames[segment.start - 1].argmax() == 0


def test_argmax_over_segments_equals_argmax_over_the_whole():
    frames = speech_like(np.random.default_rng(1), 3000)
    decoder = ArgmaxDecoder(ENCODER)
    segments = BlankSegmenter(min_frames=100, max_frames=400).split(blocks_of(frames, 64))
    texts = [decoder.decode_utterances([s.log_probs])[0].text for s in segments]
    whole = decoder.decode_utterances([frames])[0].text
    assert " ".join(" ".join(texts).split()) == whole


def test_a_sequence_without_pauses_is_still_cut_at_max_frames():
    logits = np.zeros((1000, len(ENCODER)), dtype=np.float32)
    logits[:, 1] = 5  # never blank
    segments = list(BlankSegmenter(min_frames=50, max_frames=200).split([logits]))
    assert all(len(s.log_probs) <= 200 for s in segments)
    assert sum(len(s.log_probs) for s in segments) == 1000


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        BlankSegmenter(min_frames=500, max_frames=400)
