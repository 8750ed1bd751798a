"""Word timestamps for any decoder's text: CTC forced alignment against the log-probabilities.

The hypothesis (from argmax, the beam search or the LM decoder alike) is encoded back into
tokens, spaces included, and aligned to the frames it came from with
`torchaudio.functional.forced_align` (the best single alignment of exactly those tokens). Frame
`t` is centred at `t * frame_seconds` (+ `offset`), `frame_seconds` being the model's frame
stride (the features' hop times the model's time stride), and stands for the interval of one
stride around it. A word starts where the first frame of its first character starts and ends
where the last frame of its last character ends; its confidence is the mean posterior
probability of the frames its characters are aligned to.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torchaudio.functional

from src.text_encoder import CTCCharTextEncoder


@dataclass(frozen=True)
class WordTiming:
    """One word of a transcript: start and end in seconds, confidence in [0, 1]."""

    word: str
    start: float
    end: float
    confidence: float

    def to_dict(self) -> dict[str, str | float]:
        return {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }


def align_words(
    log_probs: np.ndarray | torch.Tensor,
    text: str,
    text_encoder: CTCCharTextEncoder,
    frame_seconds: float,
    offset: float = 0.0,
) -> list[WordTiming]:
    """The words of `text` (a decoder's output for these (T, C) log-probabilities) with their
    times. A text that no alignment of the T frames can spell is a `ValueError`."""
    words = text.split()
    if not words:
        return []
    tokens = text_encoder.encode(" ".join(words)).to(torch.int32)
    emissions = torch.as_tensor(log_probs, dtype=torch.float32).unsqueeze(0)
    try:
        path, scores = torchaudio.functional.forced_align(
            emissions, tokens.unsqueeze(0), blank=text_encoder.blank_index
        )
    except RuntimeError as error:
        raise ValueError(
            f"{text!r} cannot be aligned to {emissions.shape[1]} frames ({error})"
        ) from error
    spans = torchaudio.functional.merge_tokens(
        path[0], scores[0].exp(), blank=text_encoder.blank_index
    )
    space = text_encoder.char_to_index[" "]
    timings, word_spans = [], []
    for span in [*spans, None]:  # None closes the last word
        if span is not None and span.token != space:
            word_spans.append(span)
            continue
        if word_spans:
            frames = sum(s.end - s.start for s in word_spans)
            confidence = sum(s.score * (s.end - s.start) for s in word_spans) / frames
            timings.append(
                WordTiming(
                    words[len(timings)],
                    max(offset + (word_spans[0].start - 0.5) * frame_seconds, 0.0),
                    offset + (word_spans[-1].end - 0.5) * frame_seconds,
                    float(confidence),
                )
            )
        word_spans = []
    return timings
