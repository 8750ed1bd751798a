"""The interface every CTC decoder follows, and the scored hypothesis it returns."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from src.text_encoder import CTCCharTextEncoder


@dataclass(frozen=True)
class Hypothesis:
    """The best transcription of one utterance with the scores its decoder knows (natural log).

    `logit_score`: acoustic log-probability (of the best path for argmax, of the label sequence
    summed over its alignments for a beam search); `lm_score`: what the language model adds
    (alpha * log P_LM + beta * words); `score`: what the decoder ranked by.
    """

    text: str
    logit_score: float | None = None
    lm_score: float | None = None
    score: float | None = None

    def scores(self) -> dict[str, float]:
        """The scores this hypothesis has, by name."""
        return {
            key: value for key, value in asdict(self).items() if key != "text" and value is not None
        }


class CTCDecoder(ABC):
    """`decode(log_probs (B, T, C), lengths (B,)) -> list[str]`; `decode_hypotheses` adds scores.

    Subclasses implement `decode_utterances`: one (T_i, C) float32 array of log-probabilities per
    utterance, already cut to its length.
    """

    def __init__(self, text_encoder: CTCCharTextEncoder) -> None:
        self.text_encoder = text_encoder

    @abstractmethod
    def decode_utterances(self, log_probs: Sequence[np.ndarray]) -> list[Hypothesis]:
        """The best hypothesis of every utterance."""

    def decode_hypotheses(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Hypothesis]:
        return self.decode_utterances(self.split_batch(log_probs, lengths))

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        return [hypothesis.text for hypothesis in self.decode_hypotheses(log_probs, lengths)]

    def split_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        """A padded (B, T, C) batch -> B float32 arrays (length_i, C), after checking shapes."""
        if log_probs.dim() != 3 or log_probs.shape[-1] != len(self.text_encoder):
            raise ValueError(
                f"log_probs must be (batch, time, {len(self.text_encoder)} tokens), "
                f"got {tuple(log_probs.shape)}"
            )
        lengths = lengths.cpu().tolist()
        if len(lengths) != log_probs.shape[0] or not all(
            0 <= length <= log_probs.shape[1] for length in lengths
        ):
            raise ValueError(
                f"lengths {lengths} do not fit log_probs of shape {tuple(log_probs.shape)}"
            )
        array = log_probs.detach().float().cpu().numpy()
        return [array[index, :length] for index, length in enumerate(lengths)]

    def labels_to_text(self, labels: Sequence[int]) -> str:
        """A collapsed label sequence (no blanks, no repeats merging) -> normalised text, as
        the text encoder spells it (characters, or subwords with `▁` word boundaries)."""
        return self.text_encoder.labels_to_text(labels)
