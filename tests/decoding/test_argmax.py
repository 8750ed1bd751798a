"""Argmax decoding: the collapsed best path and its score, batched on tensors."""

import numpy as np
import pytest
import torch

from src.decoding import ArgmaxDecoder
from src.text_encoder import CTCCharTextEncoder

ENCODER = CTCCharTextEncoder()
DECODER = ArgmaxDecoder(ENCODER)


def frames_for(path: str, seed: int = 0) -> torch.Tensor:
    """Log-probabilities whose best token per frame spells `path` (`-` is the blank), with
    random runner-up tokens so the scores are not trivial."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(path), len(ENCODER), generator=generator)
    for frame, char in enumerate(path):
        logits[frame, 0 if char == "-" else ENCODER.char_to_index[char]] = 10.0
    return torch.log_softmax(logits, dim=-1)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("hheel-llloo", "hello"),  # repeats merged, a blank separates the double l
        ("helllo", "helo"),  # without a blank the repeat collapses
        ("---cat---", "cat"),
        ("c-a-a-t", "caat"),
        ("ab  -  cd", "ab cd"),  # spaces collapse like any repeat, then runs of them merge
        ("  hi  ", "hi"),
        ("------", ""),
    ],
)
def test_the_best_path_collapses_to_text_scored_by_its_log_probability(path, expected):
    log_probs = frames_for(path)
    (hypothesis,) = DECODER.decode_hypotheses(log_probs[None], torch.tensor([len(path)]))
    assert hypothesis.text == expected
    assert hypothesis.logit_score == pytest.approx(float(log_probs.max(dim=-1).values.sum()))
    assert hypothesis.score == hypothesis.logit_score and hypothesis.lm_score is None


def test_a_padded_batch_decodes_like_its_utterances_alone():
    paths = ["hheel-llloo", "c-a-t", "-"]
    alone = [frames_for(path, seed) for seed, path in enumerate(paths)]
    batch = torch.nn.utils.rnn.pad_sequence(alone, batch_first=True)
    batch[1, 5:] = frames_for("zzzzzz")  # padding that would spell something if read
    lengths = torch.tensor([len(path) for path in paths])
    batched = DECODER.decode_hypotheses(batch, lengths)
    singles = DECODER.decode_utterances([frames.numpy() for frames in alone])
    assert [h.text for h in batched] == ["hello", "cat", ""]
    for one, other in zip(batched, singles, strict=True):
        assert one.text == other.text and one.score == pytest.approx(other.score, abs=1e-5)


def test_shapes_that_do_not_fit_are_an_error():
    with pytest.raises(ValueError, match="tokens"):
        DECODER.decode_hypotheses(torch.zeros(1, 4, 5), torch.tensor([4]))
    with pytest.raises(ValueError, match="do not fit"):
        DECODER.decode_hypotheses(torch.zeros(1, 4, len(ENCODER)), torch.tensor([9]))
    assert DECODER.decode_utterances([np.zeros((0, len(ENCODER)), dtype=np.float32)])[0].text == ""
