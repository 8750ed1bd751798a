"""Exported models (ONNX in onnxruntime, TorchScript) against the PyTorch forward pass."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from src.export import export, max_difference, run_exported
from src.trainer.restore import load_trained_model
from tests.conftest import REPO_ROOT
from tests.tiny_model import TINY_MODEL, save_tiny_checkpoint

MODELS = {
    "bidirectional lstm": [],
    "unidirectional gru": ["model.bidirectional=false", "model.rnn_type=gru"],
}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("overrides", MODELS.values(), ids=MODELS.keys())
def test_exported_log_probs_match_pytorch_at_other_batch_sizes_and_lengths(
    tmp_path, fmt, overrides
):
    checkpoint = save_tiny_checkpoint(tmp_path / "tiny.pth", [*TINY_MODEL, *overrides])
    path = export(checkpoint, fmt, tmp_path / f"model.{fmt}")
    trained = load_trained_model(checkpoint)
    for batch, time in [(1, 50), (4, 733)]:
        spectrogram = torch.randn(batch, trained.features.n_feats, time)
        lengths = torch.tensor([time - 13 * index for index in range(batch)])
        log_probs, log_probs_length = run_exported(path, fmt, spectrogram, lengths)
        with torch.no_grad():
            expected = trained.model(spectrogram, lengths)
        np.testing.assert_array_equal(log_probs_length, expected["log_probs_length"].numpy())
        for index, frames in enumerate(log_probs_length.tolist()):
            difference = np.abs(
                log_probs[index, :frames] - expected["log_probs"][index, :frames].numpy()
            )
            assert difference.max() < 1e-4
    assert max_difference(checkpoint, path, fmt) < 1e-4


def test_the_command_line_writes_next_to_the_checkpoint(tmp_path):
    checkpoint = save_tiny_checkpoint(tmp_path / "tiny.pth")
    result = subprocess.run(
        [sys.executable, "-m", "src.export", f"model={checkpoint}", "format=onnx"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "tiny.onnx").is_file()
    assert "max abs difference of the log-probs from PyTorch" in result.stdout


def test_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        export(save_tiny_checkpoint(tmp_path / "tiny.pth"), "tflite", tmp_path / "x")
