"""A tiny hand-written bigram LM and log-probabilities that spell words, for decoder tests."""

from pathlib import Path

import numpy as np

from src.text_encoder import CTCCharTextEncoder

ENCODER = CTCCharTextEncoder()

# Much prefers "red car" to "rad car" (log10 probabilities, tab separated).
ARPA = """\\data\\
ngram 1=6
ngram 2=5

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.3
-1.0\t</s>\t0
-0.5\tred\t-0.2
-3.0\trad\t-0.2
-0.6\tcar\t-0.2

\\2-grams:
-0.2\t<s> red
-2.5\t<s> rad
-0.1\tred car
-0.1\trad car
-0.1\tcar </s>

\\end\\
"""


def write_arpa(path: Path) -> Path:
    path.write_text(ARPA)
    return path


def frames_for(text: str, probability: float = 0.9) -> np.ndarray:
    """Log-probs spelling `text`: one frame per character, each followed by a blank frame."""
    rows = []
    for char in text:
        for token in (ENCODER.char_to_index[char], 0):
            row = np.full(len(ENCODER), (1 - probability) / (len(ENCODER) - 1))
            row[token] = probability
            rows.append(row)
    return np.log(np.array(rows)).astype(np.float32)


def ambiguous_red_rad() -> np.ndarray:
    """ "rad car" acoustically (a 0.55, e 0.40 on the vowel frame), "red car" by the LM."""
    log_probs = frames_for("rad car")
    vowel = np.full(len(ENCODER), 0.05 / (len(ENCODER) - 2))
    vowel[ENCODER.char_to_index["a"]], vowel[ENCODER.char_to_index["e"]] = 0.55, 0.40
    log_probs[2] = np.log(vowel)
    return log_probs
