"""Subword units: learnt from transcripts, cached, stored in checkpoints, rebuilt from them."""

import io
import pickle

import pytest
import torch
from omegaconf import OmegaConf

from src.text_encoder import (
    CTCCharTextEncoder,
    SentencePieceTextEncoder,
    build_text_encoder,
    load_text_encoder,
)
from tests.conftest import REPO_ROOT

CONFIGS = REPO_ROOT / "configs" / "text_encoder"
TRANSCRIPTS = [
    "the cat sat on the mat",
    "a bad cat had a hat",
    "the hat is on the cat",
    "that is what the cat said",
] * 3


@pytest.fixture
def encoder(tmp_path) -> SentencePieceTextEncoder:
    return SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 48, "bpe", tmp_path)


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_units_are_learnt_with_the_blank_first_and_every_letter(model_type, tmp_path):
    encoder = SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 34, model_type, tmp_path)
    assert len(encoder) == 34 and encoder.vocab[0] == "" and encoder.blank_index == 0
    assert len(set(encoder.vocab)) == 34
    assert set("abcdefghijklmnopqrstuvwxyz'") <= set(encoder.vocab)  # also unseen letters
    assert any(len(piece) > 2 and piece.startswith("\u2581") for piece in encoder.vocab)


def test_text_round_trips_through_subwords(encoder):
    for text in ["the cat sat", "quiz zoo's jam", "a"]:
        ids = encoder.encode(text)
        assert ids.dtype == torch.long and 0 not in ids.tolist()
        assert encoder.labels_to_text(ids.tolist()) == text
    assert len(encoder.encode("the cat")) < len("the cat")  # whole words are units


def test_normalisation_is_the_character_encoders(encoder):
    raw = "The CAT\u2019s  hat - naïve!"
    assert encoder.normalize(raw) == CTCCharTextEncoder().normalize(raw) == "the cat's hat naive"


def test_an_unknown_character_is_an_error_naming_it(encoder):
    with pytest.raises(ValueError, match=r"\['\?'\].*not in the vocabulary"):
        encoder.encode("cat?")


def test_the_model_is_cached_by_transcripts_and_options(tmp_path):
    first = SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 40, "bpe", tmp_path)
    [cached] = list(tmp_path.glob("*.model"))
    assert cached.read_bytes() == first.model
    again = SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 40, "bpe", tmp_path)
    assert again.vocab == first.vocab and list(tmp_path.glob("*.model")) == [cached]
    SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS[:2], 40, "bpe", tmp_path)
    SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 41, "bpe", tmp_path)
    assert len(list(tmp_path.glob("*.model"))) == 3
    assert not list(tmp_path.glob("*.part"))


def test_bad_options_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 40, "word", tmp_path)
    with pytest.raises(ValueError, match=r"could not learn 5000 bpe units from 12 transcripts"):
        SentencePieceTextEncoder.from_transcripts(TRANSCRIPTS, 5000, "bpe", tmp_path)
    with pytest.raises(ValueError, match="no transcripts"):
        SentencePieceTextEncoder.from_transcripts(["", ""], 40, "bpe", tmp_path)


def checkpoint_of(encoder) -> dict:
    """What a checkpoint holds of the encoder, after torch.save / torch.load(weights_only)."""
    buffer = io.BytesIO()
    torch.save({"vocab": encoder.vocab, "text_encoder": encoder.checkpoint_state()}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_a_checkpoint_rebuilds_the_same_encoder(encoder):
    rebuilt = load_text_encoder(checkpoint_of(encoder), "model.pth")
    assert isinstance(rebuilt, SentencePieceTextEncoder)
    assert rebuilt.vocab == encoder.vocab and rebuilt.model == encoder.model
    assert rebuilt.encode("the hat").tolist() == encoder.encode("the hat").tolist()


def test_a_checkpoint_with_only_a_vocab_rebuilds_characters():
    char = CTCCharTextEncoder()
    assert char.checkpoint_state() is None
    rebuilt = load_text_encoder({"vocab": char.vocab}, "old.pth")
    assert isinstance(rebuilt, CTCCharTextEncoder) and rebuilt.vocab == char.vocab
    with pytest.raises(ValueError, match="old.pth: vocab: a saved vocabulary must be a list"):
        load_text_encoder({}, "old.pth")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["text_encoder"].update(type="pickle"), "type='pickle' is unknown"),
        (lambda c: c.update(text_encoder="bpe"), "type=None is unknown"),
        (lambda c: c["text_encoder"].update(model=[1, 2]), "1-D uint8 tensor"),
        (
            lambda c: c["text_encoder"].update(model=torch.zeros(3, dtype=torch.float32)),
            "1-D uint8 tensor",
        ),
        (
            lambda c: c["text_encoder"].update(model=torch.tensor([1, 2, 3], dtype=torch.uint8)),
            "not a readable sentencepiece model",
        ),
        (lambda c: c.update(vocab=c["vocab"][:-1]), "does not match its vocab"),
        (lambda c: c.pop("text_encoder"), "single characters"),  # read as characters
    ],
)
def test_a_hostile_checkpoint_is_an_error_naming_the_file(encoder, change, message):
    checkpoint = checkpoint_of(encoder)
    change(checkpoint)
    with pytest.raises(ValueError, match=message) as error:
        load_text_encoder(checkpoint, "hostile.pth")
    assert "hostile.pth" in str(error.value)


def test_the_config_learns_from_the_transcripts_only_when_it_needs_them(tmp_path):
    asked = []

    def transcripts() -> list[str]:
        asked.append(True)
        return TRANSCRIPTS

    char = build_text_encoder(OmegaConf.load(CONFIGS / "ctc_char.yaml"), transcripts)
    assert isinstance(char, CTCCharTextEncoder) and not asked
    config = OmegaConf.load(CONFIGS / "bpe.yaml")
    config.cache_dir, config.vocab_size = str(tmp_path), 40
    bpe = build_text_encoder(config, transcripts)
    assert isinstance(bpe, SentencePieceTextEncoder) and len(bpe) == 40 and asked == [True]


def test_it_survives_pickling_for_loader_worker_processes(encoder):
    copy = pickle.loads(pickle.dumps(encoder))
    assert copy.vocab == encoder.vocab
    assert copy.encode("the mat").tolist() == encoder.encode("the mat").tolist()
