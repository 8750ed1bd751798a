"""Greedy CTC decoding: the best token per frame, repeats merged, blanks dropped."""

from collections.abc import Sequence

import numpy as np

from src.decoding.base import CTCDecoder, Hypothesis


class ArgmaxDecoder(CTCDecoder):
    """Scores each hypothesis with the log-probability of its best path."""

    def decode_utterances(self, log_probs: Sequence[np.ndarray]) -> list[Hypothesis]:
        hypotheses = []
        for frames in log_probs:
            path = frames.argmax(axis=-1)
            path_score = float(frames[np.arange(len(path)), path].sum())
            kept = (path != self.text_encoder.blank_index) & (path != np.roll(path, 1))
            kept[:1] = path[:1] != self.text_encoder.blank_index
            text = self.labels_to_text(path[kept].tolist())
            hypotheses.append(Hypothesis(text, logit_score=path_score, score=path_score))
        return hypotheses
