"""A checkpoint is untrusted: loading it calls nothing but the project's models and features."""

import pytest
import torch

from src.text_encoder import SentencePieceTextEncoder
from src.trainer.restore import load_trained_model
from src.utils.checkpoint import load_checkpoint
from src.utils.spec import UnsafeSpecError
from tests.conftest import infer_a_tone
from tests.hostile import with_stored_config, writes_a_file
from tests.tiny_model import TINY_MODEL, save_tiny_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    return save_tiny_checkpoint(tmp_path / "model.pth")


def hostile(checkpoint, tmp_path, key, spec):
    """The tiny checkpoint with `config[key]` (a dotted path) replaced by `spec`."""
    return with_stored_config(checkpoint, tmp_path / "hostile.pth", key, spec)


def test_a_real_checkpoint_comes_back_in_eval_mode(checkpoint):
    trained = load_trained_model(checkpoint)
    assert not trained.model.training
    assert trained.features.n_feats == 64 and len(trained.text_encoder) == 29
    reference = load_checkpoint(checkpoint)["model"]
    assert all(torch.equal(reference[k], v) for k, v in trained.model.state_dict().items())


WRITE_TEXT = {"_target_": "pathlib.Path.write_text", "_args_": ["/tmp/x"], "data": "pwned"}


@pytest.mark.parametrize(
    ("key", "spec"),
    [
        ("model", WRITE_TEXT),
        ("transforms.features", WRITE_TEXT),
        (
            "model",
            {
                "_target_": "src.model.DeepSpeech2",
                "rnn_type": {"_target_": "torch.load", "f": "x.pt", "weights_only": False},
            },
        ),
    ],
)
def test_a_stored_config_naming_anything_else_is_refused_before_any_call(
    checkpoint, tmp_path, key, spec
):
    path = hostile(checkpoint, tmp_path, key, spec)
    with pytest.raises(UnsafeSpecError, match="_target_='(pathlib.Path.write_text|torch.load)'"):
        load_trained_model(path)


def test_inference_py_refuses_a_hostile_checkpoint_and_runs_nothing(checkpoint, tmp_path):
    marker = tmp_path / "pwned.txt"
    path = hostile(
        checkpoint, tmp_path, "transforms.features", writes_a_file(marker)
    )  # the first one built
    result = infer_a_tone(path, tmp_path)
    assert result.returncode != 0
    assert "features._target_='pathlib.Path.write_text' is not allowed" in result.stderr
    assert not marker.exists()


def test_a_subword_checkpoint_comes_back_with_its_sentencepiece_model(tmp_path):
    overrides = [
        *TINY_MODEL,
        "text_encoder=bpe",
        "text_encoder.vocab_size=40",
        f"data_dir={tmp_path}",
    ]
    path = save_tiny_checkpoint(tmp_path / "model.pth", overrides)
    for cached in (tmp_path / "sentencepiece").glob("*.model"):
        cached.unlink()  # inference needs nothing but the checkpoint
    trained = load_trained_model(path)
    assert isinstance(trained.text_encoder, SentencePieceTextEncoder)
    assert len(trained.text_encoder) == 40 == trained.model.head[1].out_features
    assert trained.text_encoder.labels_to_text(trained.text_encoder.encode("the cat").tolist()) == (
        "the cat"
    )
