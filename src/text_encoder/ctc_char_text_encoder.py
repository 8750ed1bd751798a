"""Character-level CTC text encoder: normalisation and encoding."""

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence

import torch

logger = logging.getLogger(__name__)

BLANK = ""
DEFAULT_ALPHABET = list("abcdefghijklmnopqrstuvwxyz '")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_SEPARATORS = re.compile(r"[\s\-\u2013\u2014_/]+")


def fold_text(text: str) -> str:
    """Lower-case, fold curly apostrophes, split accents off (NFKD), turn dashes into spaces."""
    # Map apostrophes before NFKD, which would split U+00B4 into a space and a combining accent.
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES)).lower()
    return _SEPARATORS.sub(" ", text)


def normalize_text(text: str, alphabet: Iterable[str] = DEFAULT_ALPHABET) -> str:
    """Lower-case, fold accents and curly apostrophes, turn dashes into spaces, drop the rest.

    Characters outside `alphabet` are removed; runs of white space collapse to one space.
    """
    allowed = set(alphabet)
    text = "".join(char for char in fold_text(text) if char in allowed)
    return " ".join(text.split())


class CTCCharTextEncoder:
    """Maps normalised text to token ids and back; index 0 is the CTC blank."""

    def __init__(self, alphabet: Sequence[str] | None = None) -> None:
        self.alphabet = list(alphabet) if alphabet is not None else list(DEFAULT_ALPHABET)
        if len(set(self.alphabet)) != len(self.alphabet) or not all(
            isinstance(char, str) and len(char) == 1 for char in self.alphabet
        ):
            raise ValueError(
                f"alphabet must hold distinct non-empty single characters: {self.alphabet}"
            )
        self.vocab = [BLANK, *self.alphabet]
        self.char_to_index = {char: index for index, char in enumerate(self.vocab)}
        self.reported_characters: set[str] = set()  # dropped by `normalize`, warned about once

    @classmethod
    def from_vocab(cls, vocab: Sequence[str]) -> "CTCCharTextEncoder":
        """Rebuild an encoder from a saved `vocab` (blank first), e.g. from a checkpoint."""
        if not isinstance(vocab, list | tuple) or not all(isinstance(t, str) for t in vocab):
            raise ValueError(f"a saved vocabulary must be a list of strings, got {vocab!r}")
        if not vocab or vocab[0] != BLANK:
            raise ValueError("a saved vocabulary must start with the blank token ''")
        return cls(alphabet=vocab[1:])

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def blank_index(self) -> int:
        return 0

    def labels_to_text(self, labels: Iterable[int]) -> str:
        """A collapsed label sequence (no blanks) -> normalised text."""
        return " ".join("".join(self.vocab[int(label)] for label in labels).split())

    def checkpoint_state(self) -> None:
        """Nothing beyond the checkpoint's `vocab`, which rebuilds this encoder."""
        return None

    def normalize(self, text: str) -> str:
        """`normalize_text` over the alphabet. The first time it drops a character outside the
        vocabulary (accents and white space aside), a warning names it."""
        unknown = {
            char
            for char in fold_text(text)
            if char not in self.char_to_index
            and not char.isspace()
            and not unicodedata.combining(char)
        }
        for char in sorted(unknown - self.reported_characters):
            logger.warning(
                "dropping %r (U+%04X), not in the vocabulary (first seen in %r)",
                char,
                ord(char),
                text[:80],
            )
        self.reported_characters |= unknown
        return normalize_text(text, self.alphabet)

    def encode(self, text: str) -> torch.Tensor:
        """Encode already-normalised text; unknown characters are an error naming them."""
        try:
            return torch.tensor([self.char_to_index[char] for char in text], dtype=torch.long)
        except KeyError as error:
            raise ValueError(
                f"character {error.args[0]!r} of {text!r} is not in the vocabulary"
            ) from None
