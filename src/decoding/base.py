"""The interface every CTC decoder follows, and the scored hypothesis it returns."""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Self

import numpy as np
import torch

from src.decoding.pool import DecodePool
from src.text_encoder import CTCCharTextEncoder


@dataclass(frozen=True)
class Hypothesis:
    """One transcription of one utterance with the scores its decoder knows (natural log).

    `logit_score`: acoustic log-probability (of the best path for argmax, of the label sequence
    summed over its alignments for the hand-written beam search, of its best alignment for
    flashlight); `lm_score`: what the language model adds (alpha * log P_LM + beta * words);
    `score`: what the decoder ranked by.
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
    """`decode(log_probs (B, T, C), lengths (B,)) -> list[str]`; `decode_hypotheses` adds scores,
    `decode_n_best` gives up to K hypotheses per utterance.

    Subclasses implement `decode_here`: one (T_i, C) float32 array of log-probabilities per
    utterance, already cut to its length, decoded in this process. With `num_processes` > 1 the
    utterances of a call are spread over a pool of forked worker processes that holds a copy of
    this decoder (its LM included, inherited, not reloaded); the pool starts on the first call
    that needs it and lives until `close()` (also called by `with decoder:` and at exit).
    """

    def __init__(self, text_encoder: CTCCharTextEncoder, num_processes: int = 1) -> None:
        if num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {num_processes}")
        self.text_encoder = text_encoder
        self.num_processes = num_processes
        self._pool: DecodePool | None = None

    @abstractmethod
    def decode_here(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        """Up to `n_best` hypotheses of every utterance, best first, at least one each (distinct
        texts), computed in this process."""

    def decode_n_best(
        self, log_probs: Sequence[np.ndarray], n_best: int = 1
    ) -> list[list[Hypothesis]]:
        """Up to `n_best` hypotheses of every utterance, best first; pooled when configured."""
        if n_best < 1:
            raise ValueError(f"n_best must be >= 1, got {n_best}")
        if self.num_processes > 1 and len(log_probs) > 1:
            if self._pool is None:
                self._pool = DecodePool(self, self.num_processes)
            try:
                return self._pool.decode(log_probs, n_best)
            except BaseException:  # Ctrl-C or a worker's error: no worker outlives the call
                self.close()
                raise
        return self.decode_here(log_probs, n_best)

    def decode_utterances(self, log_probs: Sequence[np.ndarray]) -> list[Hypothesis]:
        """The best hypothesis of every utterance."""
        return [hypotheses[0] for hypotheses in self.decode_n_best(log_probs)]

    def decode_batch(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, n_best: int = 1
    ) -> list[list[Hypothesis]]:
        """`decode_n_best` of a padded (B, T, C) batch."""
        return self.decode_n_best(self.split_batch(log_probs, lengths), n_best)

    def decode_hypotheses(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Hypothesis]:
        return [hypotheses[0] for hypotheses in self.decode_batch(log_probs, lengths)]

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        return [hypothesis.text for hypothesis in self.decode_hypotheses(log_probs, lengths)]

    def close(self) -> None:
        """Stop the worker processes, if any (a later call starts new ones)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[int]:
        """The lengths as a list, after checking a padded (B, T, C) batch against them."""
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
        return lengths

    def split_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        """A padded (B, T, C) batch -> B float32 arrays (length_i, C)."""
        lengths = self.check_batch(log_probs, lengths)
        array = log_probs.detach().float().cpu().numpy()
        return [array[index, :length] for index, length in enumerate(lengths)]

    def path_to_text(self, path: Iterable[int]) -> str:
        """A frame-level label path -> text: repeats merged, then blanks dropped."""
        labels = torch.unique_consecutive(torch.tensor(list(path), dtype=torch.long))
        return self.labels_to_text(labels[labels != self.text_encoder.blank_index].tolist())

    def labels_to_text(self, labels: Sequence[int]) -> str:
        """A collapsed label sequence (no blanks, no repeats merging) -> normalised text, as
        the text encoder spells it (characters, or subwords with `▁` word boundaries)."""
        return self.text_encoder.labels_to_text(labels)


def distinct_texts(hypotheses: Iterable[Hypothesis], n_best: int) -> list[Hypothesis]:
    """The first `n_best` hypotheses of distinct text, in order (the best of each text)."""
    seen: set[str] = set()
    kept = []
    for hypothesis in hypotheses:
        if hypothesis.text not in seen:
            seen.add(hypothesis.text)
            kept.append(hypothesis)
            if len(kept) == n_best:
                break
    return kept
