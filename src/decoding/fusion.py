"""What every decoder with an n-gram LM shares (shallow fusion): the LM file, its word list,
the weights alpha and beta that the tuner sets, and the file the tuner writes them to.

A hypothesis is ranked by logit_score + alpha * ln P_LM(words) + beta * n_words, whatever the
backend, so one tuned (alpha, beta) means the same thing to every fusion decoder.
"""

import logging
from abc import abstractmethod
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from pyctcdecode.language_model import load_unigram_set_from_arpa

from src.decoding.base import CTCDecoder
from src.text_encoder import CTCCharTextEncoder

logger = logging.getLogger(__name__)

SENTENCE_MARKERS = frozenset({"<s>", "</s>", "<unk>"})


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


def is_arpa(path: str | Path) -> bool:
    """An ARPA text file (it opens with `\\data\\`), not a KenLM binary."""
    with open(path, "rb") as file:
        return file.read(4096).lstrip().startswith(b"\\data\\")


def lm_words(lm_path: str | Path, unigrams_path: str | Path | None = None) -> list[str]:
    """The words of an LM, sorted, without <s>, </s>, <unk>: from `unigrams_path`, else from
    the ARPA file's 1-grams (a KenLM binary does not list them)."""
    if unigrams_path is not None:
        words = set(read_unigrams(unigrams_path))
    elif is_arpa(lm_path):
        words = load_unigram_set_from_arpa(str(lm_path))
    else:
        raise ValueError(f"{lm_path} is a KenLM binary: give its word list (unigrams_path)")
    return sorted(words - SENTENCE_MARKERS)


class FusionDecoder(CTCDecoder):
    """A beam search fused with an optional KenLM n-gram LM, its weights settable (the tuner's
    protocol: `has_lm`, `alpha`, `beta`, `set_params`).

    `lm_path`: ARPA file or KenLM binary; `unigrams_path`: its word list (one per line; needed
    with a binary). `params_file` (written by `python -m src.tune_lm`) overrides `alpha`
    and `beta`.
    """

    def __init__(
        self,
        text_encoder: CTCCharTextEncoder,
        lm_path: str | Path | None = None,
        unigrams_path: str | Path | None = None,
        alpha: float = 0.5,
        beta: float = 1.0,
        params_file: str | Path | None = None,
        num_processes: int = 1,
    ) -> None:
        super().__init__(text_encoder, num_processes)
        if lm_path is not None and not Path(lm_path).is_file():
            raise FileNotFoundError(f"language model not found: {lm_path}")
        if unigrams_path is not None and not Path(unigrams_path).is_file():
            raise FileNotFoundError(f"unigrams file not found: {unigrams_path}")
        if params_file is not None:
            alpha, beta = self._tuned(params_file, lm_path)
        self.lm_path = lm_path
        self.unigrams_path = unigrams_path
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
        """New LM weights for the next calls (the LM stays loaded; pool workers, which hold the
        old weights, are stopped and forked anew on the next call)."""
        self.alpha, self.beta = float(alpha), float(beta)
        self.apply_params()
        self.close()

    @abstractmethod
    def apply_params(self) -> None:
        """Pass `alpha` and `beta` to the backend."""
