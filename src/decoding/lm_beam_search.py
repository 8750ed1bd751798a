"""Beam search through pyctcdecode with an optional KenLM n-gram LM and hotwords."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pyctcdecode import build_ctcdecoder

from src.decoding.base import Hypothesis, distinct_texts
from src.decoding.fusion import FusionDecoder, read_unigrams
from src.text_encoder import CTCCharTextEncoder


class LMBeamSearchDecoder(FusionDecoder):
    """pyctcdecode's beam search; with `lm_path`, shallow fusion with a KenLM model.

    Hypotheses are ranked by logit_score + alpha * ln P_LM(words) + beta * n_words (+ the
    hotword bonus); their `lm_score` is everything but the logit score. Without
    `unigrams_path` the words come from the ARPA file (a binary needs the list). `hotwords`
    (words or phrases, which may be unknown to the LM) get `hotword_weight` times their length
    in characters added while they are spelled, so they win against similar-sounding words.
    """

    def __init__(
        self,
        text_encoder: CTCCharTextEncoder,
        lm_path: str | Path | None = None,
        unigrams_path: str | Path | None = None,
        alpha: float = 0.5,
        beta: float = 1.0,
        params_file: str | Path | None = None,
        beam_width: int = 100,
        beam_prune_logp: float = -10.0,
        token_min_logp: float = -5.0,
        unk_score_offset: float = -10.0,
        hotwords: Sequence[str] = (),
        hotword_weight: float = 10.0,
        num_processes: int = 1,
    ) -> None:
        super().__init__(
            text_encoder, lm_path, unigrams_path, alpha, beta, params_file, num_processes
        )
        self.beam_width = beam_width
        self.beam_prune_logp = beam_prune_logp
        self.token_min_logp = token_min_logp
        self.hotwords = list(hotwords)
        self.hotword_weight = float(hotword_weight)
        self.decoder = build_ctcdecoder(
            labels=list(text_encoder.vocab),  # blank '' first, space ' ': pyctcdecode's names
            kenlm_model_path=None if lm_path is None else str(lm_path),
            unigrams=None if unigrams_path is None else read_unigrams(unigrams_path),
            alpha=self.alpha,
            beta=self.beta,
            unk_score_offset=float(unk_score_offset),
        )

    def apply_params(self) -> None:
        self.decoder.reset_params(alpha=self.alpha, beta=self.beta)

    def decode_here(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        return [self._decode_one(frames, n_best) for frames in log_probs]

    def _decode_one(self, frames: np.ndarray, n_best: int) -> list[Hypothesis]:
        if not len(frames):  # pyctcdecode cannot take a (0, C) matrix; nothing heard is ""
            return [Hypothesis("", logit_score=0.0, score=0.0)]
        beams = self.decoder.decode_beams(
            np.asarray(frames, dtype=np.float32),
            beam_width=self.beam_width,
            beam_prune_logp=self.beam_prune_logp,
            token_min_logp=self.token_min_logp,
            # pruning beams that share their recent words is exact for the best beam only
            prune_history=n_best == 1,
            hotwords=self.hotwords or None,
            hotword_weight=self.hotword_weight,
        )
        fused = self.has_lm or bool(self.hotwords)
        return distinct_texts(
            [
                Hypothesis(
                    text,
                    float(logit_score),
                    float(score - logit_score) if fused else None,
                    float(score),
                )
                for text, _, _, logit_score, score in beams
            ],
            n_best,
        )
