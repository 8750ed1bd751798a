"""Beam search through pyctcdecode with an optional KenLM n-gram LM, pooled over utterances."""

import contextlib
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from pyctcdecode import build_ctcdecoder

from src.decoding.base import CTCDecoder, Hypothesis
from src.text_encoder import CTCCharTextEncoder

logger = logging.getLogger(__name__)


def save_lm_params(path: str | Path, alpha: float, beta: float, **details: Any) -> Path:
    """Write tuned `alpha` and `beta` (plus what they were tuned on) as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({"alpha": alpha, "beta": beta, **details}), path)
    return path


def load_lm_params(path: str | Path) -> dict[str, Any]:
    """Read a file written by `save_lm_params`; it must hold numeric `alpha` and `beta`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LM params file not found: {path}")
    params = OmegaConf.to_container(OmegaConf.load(path))
    if not isinstance(params, dict) or not all(
        isinstance(params.get(key), int | float) for key in ("alpha", "beta")
    ):
        raise ValueError(f"{path}: needs numeric 'alpha' and 'beta', got {params}")
    return params


def read_unigrams(path: str | Path) -> list[str]:
    """Words separated by white space (one per line, usually)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"unigrams file not found: {path}")
    words = path.read_text(encoding="utf-8").split()
    if not words:
        raise ValueError(f"unigrams file is empty: {path}")
    return words


class LMBeamSearchDecoder(CTCDecoder):
    """pyctcdecode's beam search; with `lm_path`, shallow fusion with a KenLM model.

    Hypotheses are ranked by logit_score + alpha * ln P_LM(words) + beta * n_words; their
    `lm_score` is everything but the logit score. `lm_path` is an ARPA file or a KenLM binary;
    without `unigrams_path` the words come from the ARPA file (a binary needs the list).
    `params_file` (written by `python -m src.tune_lm`) overrides `alpha` and `beta`.
    Utterances are decoded by a fork-context pool of `num_processes` (1: in this process).
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
        num_processes: int = 1,
    ) -> None:
        super().__init__(text_encoder)
        if lm_path is not None and not Path(lm_path).is_file():
            raise FileNotFoundError(f"language model not found: {lm_path}")
        if params_file is not None:
            alpha, beta = self._tuned(params_file, lm_path)
        if num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {num_processes}")
        self.lm_path = lm_path
        self.unigrams_path = unigrams_path
        self.beam_width = beam_width
        self.beam_prune_logp = beam_prune_logp
        self.token_min_logp = token_min_logp
        self.num_processes = num_processes
        self.decoder = build_ctcdecoder(
            labels=list(text_encoder.vocab),  # blank '' first, space ' ': pyctcdecode's names
            kenlm_model_path=None if lm_path is None else str(lm_path),
            unigrams=None if unigrams_path is None else read_unigrams(unigrams_path),
            alpha=float(alpha),
            beta=float(beta),
            unk_score_offset=float(unk_score_offset),
        )
        self.alpha, self.beta = float(alpha), float(beta)

    @staticmethod
    def _tuned(params_file: str | Path, lm_path: str | Path | None) -> tuple[float, float]:
        params = load_lm_params(params_file)
        tuned_on = params.get("lm_path")
        if tuned_on is not None and lm_path is not None and Path(tuned_on) != Path(lm_path):
            logger.warning(
                "%s was tuned with LM %s, decoding with %s", params_file, tuned_on, lm_path
            )
        logger.info("alpha %s, beta %s from %s", params["alpha"], params["beta"], params_file)
        return params["alpha"], params["beta"]

    @property
    def has_lm(self) -> bool:
        return self.lm_path is not None

    def set_params(self, alpha: float, beta: float) -> None:
        """New LM weights for the next calls (the LM stays loaded)."""
        self.alpha, self.beta = float(alpha), float(beta)
        self.decoder.reset_params(alpha=self.alpha, beta=self.beta)

    def decode_utterances(self, log_probs: Sequence[np.ndarray]) -> list[Hypothesis]:
        # pyctcdecode cannot take an empty (0, C) matrix; nothing heard decodes to "".
        nonempty = [index for index, frames in enumerate(log_probs) if len(frames)]
        hypotheses = [Hypothesis("", logit_score=0.0, score=0.0)] * len(log_probs)
        if not nonempty:
            return hypotheses
        with self._pool(len(nonempty)) as pool:
            beams = self.decoder.decode_beams_batch(
                pool,
                [np.asarray(log_probs[index], dtype=np.float32) for index in nonempty],
                beam_width=self.beam_width,
                beam_prune_logp=self.beam_prune_logp,
                token_min_logp=self.token_min_logp,
                prune_history=True,  # only the best beam is used (as pyctcdecode's decode)
            )
        for index, (text, _, logit_score, score) in zip(
            nonempty, (utterance_beams[0] for utterance_beams in beams), strict=True
        ):
            lm_score = float(score - logit_score) if self.has_lm else None
            hypotheses[index] = Hypothesis(text, float(logit_score), lm_score, float(score))
        return hypotheses

    @contextlib.contextmanager
    def _pool(self, n_utterances: int) -> Iterator[Pool | None]:
        """Forked workers inherit the loaded LM (pyctcdecode keeps it in a class variable)."""
        processes = min(self.num_processes, n_utterances)
        if processes == 1:
            yield None
            return
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            yield pool
