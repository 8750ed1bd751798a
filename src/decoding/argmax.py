"""Greedy CTC decoding: the best token per frame, repeats merged, blanks dropped."""

from collections.abc import Sequence

import numpy as np

from src.decoding.base import CTCDecoder, Hypothesis


class ArgmaxDecoder(CTCDecoder):
    """Scores each hypothesis with the log-probability of its best path; one hypothesis per
    utterance, whatever `n_best` asks."""

    def decode_here(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        hypotheses = []
        for frames in log_probs:
            path = frames.argmax(axis=-1)
            path_score = float(frames[np.arange(len(path)), path].sum())
            text = self.text_encoder.ctc_decode(path.tolist())
            hypotheses.append([Hypothesis(text, logit_score=path_score, score=path_score)])
        return hypotheses
