"""CTC beam search in C++ through flashlight-text (the decoder behind torchaudio's
`ctc_decoder`), fused with a KenLM model, lexicon-based or lexicon-free.

flashlight's names for our tokens: the blank is `<blank>`, the space (word separator) is `|`,
every other token is its character. Lexicon-based, a hypothesis is a sequence of lexicon words,
each spelled by its letters and closed by `|`; since the model emits no space after the last
word, every utterance gets one extra frame that is certainly `|`, which closes it (and adds 0
to every score). Lexicon-free, a hypothesis is any token sequence, and the LM (if any) scores
tokens: it must be a token-level LM whose words are the tokens (`python -m src.lm.build
--units chars`).

The bindings are used directly rather than through torchaudio's wrapper, which fixes the
weights at construction (a new trie and LM load per alpha/beta pair) and drops the split of the
score into its acoustic and LM parts.
"""

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from flashlight.lib.text.decoder import (
    LM,
    CriterionType,
    DecodeResult,
    LexiconDecoder,
    LexiconDecoderOptions,
    LexiconFreeDecoder,
    LexiconFreeDecoderOptions,
    SmearingMode,
    Trie,
    ZeroLM,
)
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary, load_words

from src.decoding.base import Hypothesis, distinct_texts
from src.decoding.fusion import FusionDecoder, lm_words
from src.text_encoder import CTCCharTextEncoder

logger = logging.getLogger(__name__)

BLANK, SEPARATOR, UNKNOWN = "<blank>", "|", "<unk>"
LN_10 = math.log(10)  # KenLM scores are log10; alpha weighs natural logs
CLOSING_FRAME_LOGP = -1e4  # the extra frame's log-probability of every token but `|`


def token_names(text_encoder: CTCCharTextEncoder) -> list[str]:
    """flashlight's name of every token, in the order of the model's outputs."""
    names = {text_encoder.vocab[text_encoder.blank_index]: BLANK, " ": SEPARATOR}
    return [names.get(token, token) for token in text_encoder.vocab]


def spell_words(words: Sequence[str], tokens: Sequence[str]) -> dict[str, list[list[str]]]:
    """Each word spelled by its characters (one spelling); words with a character that is no
    token are left out (and counted in the log)."""
    known = set(tokens) - {BLANK, SEPARATOR}
    lexicon = {word: [list(word)] for word in words if set(word) <= known}
    if len(lexicon) < len(words):
        logger.warning(
            "lexicon: left out %d of %d words spelled with characters outside the vocabulary",
            len(words) - len(lexicon),
            len(words),
        )
    return lexicon


def read_lexicon(path: str | Path, tokens: Sequence[str]) -> dict[str, list[list[str]]]:
    """A flashlight lexicon file: per line a word, then its spelling in tokens (space
    separated; a closing `|` is added where it is missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lexicon not found: {path}")
    lexicon = {word: spellings for word, spellings in load_words(str(path)).items() if spellings}
    if not lexicon:
        raise ValueError(f"{path}: no word with a spelling")
    for word, spellings in lexicon.items():
        for spelling in spellings:
            unknown = set(spelling) - (set(tokens) - {BLANK})
            if unknown:
                raise ValueError(f"{path}: {word!r} is spelled with unknown tokens {unknown}")
    return {
        word: [spelling[:-1] if spelling[-1] == SEPARATOR else spelling for spelling in spellings]
        for word, spellings in lexicon.items()
    }


class FlashlightDecoder(FusionDecoder):
    """flashlight's CTC beam search; with `lm_path`, shallow fusion with a KenLM model.

    Hypotheses are ranked by the log-probability of their alignments (summed with `log_add`,
    else the best one's) + alpha * ln P_LM(words) + beta * n_words (lexicon-free: + beta
    per frame of `|`). The lexicon is `lexicon_path` or else the LM's words (`unigrams_path`,
    or the ARPA file's 1-grams) spelled letter by letter; `lexicon_free` decodes without one.

    Args:
        beam_width: hypotheses kept after every frame.
        beam_size_token: a frame extends hypotheses by its `beam_size_token` most likely tokens
            (None: all).
        beam_threshold: drop hypotheses scoring more than this below the best one.
        log_add: merge hypotheses by summing their probabilities (else keep the best).

    The defaults (top 8 tokens, threshold 15, summing) did best on the val split of a trained
    checkpoint (alpha and beta tuned for each): as accurate as no token pruning and 2-3x
    faster; summing lowered WER by 0.8 points.
    """

    def __init__(
        self,
        text_encoder: CTCCharTextEncoder,
        lm_path: str | Path | None = None,
        unigrams_path: str | Path | None = None,
        alpha: float = 0.5,
        beta: float = 1.0,
        params_file: str | Path | None = None,
        lexicon_path: str | Path | None = None,
        lexicon_free: bool = False,
        beam_width: int = 100,
        beam_size_token: int | None = 8,
        beam_threshold: float = 15.0,
        log_add: bool = True,
        num_processes: int = 1,
    ) -> None:
        super().__init__(
            text_encoder, lm_path, unigrams_path, alpha, beta, params_file, num_processes
        )
        if beam_width < 1 or (beam_size_token is not None and beam_size_token < 1):
            raise ValueError(f"beam_width ({beam_width}), beam_size_token must be >= 1")
        self.tokens = token_names(text_encoder)
        self.token_dict = Dictionary(self.tokens)
        self.blank = text_encoder.blank_index
        if SEPARATOR not in self.tokens:
            raise ValueError("flashlight decoding needs a space token (the word separator)")
        self.separator = self.tokens.index(SEPARATOR)
        self.lexicon_free = lexicon_free
        self.beam_width = beam_width
        self.beam_size_token = beam_size_token or len(self.tokens)
        self.beam_threshold = float(beam_threshold)
        self.log_add = log_add
        if lexicon_free:
            if lexicon_path is not None:
                raise ValueError("lexicon_free decoding takes no lexicon_path")
            self.word_dict = self.token_dict
        else:
            lexicon = self._lexicon(lexicon_path)
            self.word_dict = Dictionary([*lexicon, UNKNOWN] if UNKNOWN not in lexicon else lexicon)
        self.lm: LM = ZeroLM() if lm_path is None else self._kenlm(lm_path)
        self.trie = None if lexicon_free else self._trie(lexicon)
        self.apply_params()

    def _kenlm(self, lm_path: str | Path) -> KenLM:
        try:
            return KenLM(str(lm_path), self.word_dict)
        except RuntimeError as error:
            raise ValueError(f"{lm_path}: not a KenLM model (ARPA or binary): {error}") from None

    def _lexicon(self, lexicon_path: str | Path | None) -> dict[str, list[list[str]]]:
        if lexicon_path is not None:
            return read_lexicon(lexicon_path, self.tokens)
        if self.lm_path is None and self.unigrams_path is None:
            raise ValueError("lexicon decoding needs words: lexicon_path, lm_path or unigrams_path")
        words = lm_words(self.lm_path, self.unigrams_path)
        lexicon = spell_words(words, self.tokens)
        if not lexicon:
            raise ValueError(f"no word of {self.unigrams_path or self.lm_path} fits the vocabulary")
        return lexicon

    def _trie(self, lexicon: dict[str, list[list[str]]]) -> Trie:
        """The spellings (closed by `|`) of every word, with its unigram score: a word's prefix
        is scored with the best unigram below it until the word ends. (The unigram, from no
        context, not torchaudio's P(word | <s>), which underrates words rare at the start of a
        sentence: measured, 4 points of WER at beam 100, and slower.)"""
        trie = Trie(len(self.tokens), self.separator)
        start = self.lm.start(True)
        for word, spellings in lexicon.items():
            word_index = self.word_dict.get_index(word)
            _, score = self.lm.score(start, word_index)
            for spelling in spellings:
                labels = [self.token_dict.get_index(token) for token in spelling]
                trie.insert([*labels, self.separator], word_index, score)
        trie.smear(SmearingMode.MAX)
        return trie

    def apply_params(self) -> None:
        lm_weight = self.alpha * LN_10
        if self.lexicon_free:
            options = LexiconFreeDecoderOptions(
                beam_size=self.beam_width,
                beam_size_token=self.beam_size_token,
                beam_threshold=self.beam_threshold,
                lm_weight=lm_weight,
                sil_score=self.beta,
                log_add=self.log_add,
                criterion_type=CriterionType.CTC,
            )
            self.decoder = LexiconFreeDecoder(options, self.lm, self.separator, self.blank, [])
            return
        options = LexiconDecoderOptions(
            beam_size=self.beam_width,
            beam_size_token=self.beam_size_token,
            beam_threshold=self.beam_threshold,
            lm_weight=lm_weight,
            word_score=self.beta,
            unk_score=-math.inf,  # only lexicon words (flashlight's unknown word is a prefix)
            sil_score=0.0,
            log_add=self.log_add,
            criterion_type=CriterionType.CTC,
        )
        unknown = self.word_dict.get_index(UNKNOWN)
        self.decoder = LexiconDecoder(
            options, self.trie, self.lm, self.separator, self.blank, unknown, [], False
        )

    def decode_here(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        return [self._decode_one(frames, n_best) for frames in log_probs]

    def _decode_one(self, frames: np.ndarray, n_best: int) -> list[Hypothesis]:
        if not self.lexicon_free:
            closing = np.full((1, len(self.tokens)), CLOSING_FRAME_LOGP, dtype=np.float32)
            closing[0, self.separator] = 0.0
            frames = np.concatenate([frames, closing])
        if not len(frames):
            return [Hypothesis("", logit_score=0.0, score=0.0)]
        emissions = np.ascontiguousarray(frames, dtype=np.float32)
        results = self.decoder.decode(emissions.ctypes.data, *emissions.shape)
        hypotheses = distinct_texts((self._hypothesis(result) for result in results), n_best)
        return hypotheses or [Hypothesis("")]  # every hypothesis pruned: nothing decoded

    def _hypothesis(self, result: DecodeResult) -> Hypothesis:
        """The result's text and scores; the LM part is rebuilt from the raw LM score (log10)
        and the bonus count, so that with `log_add` the acoustic part is the merged sum."""
        if self.lexicon_free:
            tokens = result.tokens  # one per frame, between a start and an end state
            text = self.path_to_text(token for token in tokens if token >= 0)
            bonuses = tokens[1:-1].count(self.separator)  # flashlight's beta: per frame of `|`
        else:  # the words, whatever their spelling
            words = [self.word_dict.get_entry(word) for word in result.words if word >= 0]
            text, bonuses = " ".join(words), len(words)
        lm_score = self.alpha * LN_10 * result.lmScore + self.beta * bonuses
        score = float(result.score)
        return Hypothesis(text, score - lm_score, lm_score if self.has_lm else None, score)
