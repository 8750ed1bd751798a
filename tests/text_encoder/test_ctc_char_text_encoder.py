"""Text normalisation, encoding and CTC argmax decoding of the character encoder."""

import pytest
import torch

from src.text_encoder.ctc_char_text_encoder import (
    BLANK,
    DEFAULT_ALPHABET,
    CTCCharTextEncoder,
    normalize_text,
)

ENCODER = CTCCharTextEncoder()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HeLLo WORLD", "hello world"),
        ("Hello, World! How are you?", "hello world how are you"),
        ('"Quoted"; (parens) [x] {y}: z.', "quoted parens x y z"),
        ("don't", "don't"),
        ("don\u2019t", "don't"),  # right single quotation mark
        ("\u2018tis", "'tis"),  # left single quotation mark
        ("don`t", "don't"),
        ("don\u00b4t", "don't"),  # acute accent used as an apostrophe
        ("well-known", "well known"),
        ("a\u2013b\u2014c", "a b c"),  # en and em dashes
        ("snake_case and/or", "snake case and or"),
        ("Café naïve Ångström façade", "cafe naive angstrom facade"),
        ("\ufb01ne", "fine"),  # ligature folded by NFKD
        ("room 101 has 3 beds", "room has beds"),
        ("1984", ""),
        ("  lots \t of\n\n space\u00a0here  ", "lots of space here"),
        ("", ""),
        ("?!...", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected
    assert ENCODER.normalize(raw) == expected


def test_normalize_text_respects_custom_alphabet():
    assert normalize_text("Abc, d'e!", alphabet="ab ") == "ab"
    assert CTCCharTextEncoder(alphabet=list("ab ")).normalize("A-b c") == "a b"


def test_vocab_layout():
    assert ENCODER.vocab[0] == BLANK
    assert ENCODER.blank_index == 0
    assert ENCODER.vocab[1:] == DEFAULT_ALPHABET
    assert len(ENCODER) == len(DEFAULT_ALPHABET) + 1 == 29


def spell(indices) -> str:
    return "".join(ENCODER.vocab[int(index)] for index in indices)


def test_encode_over_full_alphabet():
    text = "".join(DEFAULT_ALPHABET)
    indices = ENCODER.encode(text)
    assert indices.dtype == torch.long
    assert indices.tolist() == list(range(1, len(DEFAULT_ALPHABET) + 1))
    assert spell(indices) == text


def test_encode_a_normalised_sentence():
    text = normalize_text("It's a well-known fact, isn't it?")
    assert spell(ENCODER.encode(text)) == text == "it's a well known fact isn't it"


def test_encode_unknown_character_names_it():
    with pytest.raises(ValueError, match=r"'Z'.*not in the vocabulary"):
        ENCODER.encode("aZb")
    with pytest.raises(ValueError, match="'1'"):
        ENCODER.encode("room 1")


def test_from_vocab_round_trip():
    custom = CTCCharTextEncoder(alphabet=list("xyz "))
    rebuilt = CTCCharTextEncoder.from_vocab(custom.vocab)
    assert rebuilt.vocab == custom.vocab == [BLANK, "x", "y", "z", " "]
    assert rebuilt.encode("zy x").tolist() == custom.encode("zy x").tolist()
    assert CTCCharTextEncoder.from_vocab(ENCODER.vocab).vocab == ENCODER.vocab


@pytest.mark.parametrize("vocab", [[], ["a", "b"], ["a", BLANK]])
def test_from_vocab_requires_leading_blank(vocab):
    with pytest.raises(ValueError, match="must start with the blank"):
        CTCCharTextEncoder.from_vocab(vocab)


@pytest.mark.parametrize("alphabet", [["a", "a"], ["a", BLANK], ["a", "\u2581the"]])
def test_alphabet_must_be_distinct_and_non_empty(alphabet):
    with pytest.raises(ValueError, match="distinct non-empty"):
        CTCCharTextEncoder(alphabet=alphabet)
