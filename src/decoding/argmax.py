"""Greedy CTC decoding: the best token per frame, repeats merged, blanks dropped."""

from collections.abc import Sequence

import numpy as np
import torch

from src.decoding.base import CTCDecoder, Hypothesis
from src.utils.tensors import lengths_to_mask


class ArgmaxDecoder(CTCDecoder):
    """Scores each hypothesis with the log-probability of its best path; one hypothesis per
    utterance, whatever `n_best` asks.

    A batch is decoded with tensor operations where the log-probabilities are (on the GPU
    during training): the argmax path, a mask of the labels it keeps (not blank, not a repeat
    of the frame before, inside the utterance) and the path scores; only those small results
    reach the host."""

    def decode_batch(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, n_best: int = 1
    ) -> list[list[Hypothesis]]:
        self.check_batch(log_probs, lengths)
        best, path = log_probs.detach().max(dim=-1)
        valid = lengths_to_mask(lengths.to(path.device), path.shape[1])
        previous = torch.nn.functional.pad(path[:, :-1], (1, 0), value=-1)
        keep = valid & (path != self.text_encoder.blank_index) & (path != previous)
        scores = torch.where(valid, best.float(), 0.0).sum(dim=-1)
        path, keep, scores = path.cpu(), keep.cpu(), scores.cpu().tolist()
        return [
            [Hypothesis(self.labels_to_text(path[index][keep[index]].tolist()), score, None, score)]
            for index, score in enumerate(scores)
        ]

    def decode_here(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        return [
            self.decode_batch(torch.from_numpy(frames)[None], torch.tensor([len(frames)]))[0]
            for frames in log_probs
        ]
