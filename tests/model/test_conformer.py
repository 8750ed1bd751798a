"""Conformer-CTC: torchaudio's layers, run with the padding masked."""

import pytest
import torch
import torchaudio

from src.model import ConformerCTC, MaskedBatchNorm1d
from src.model.conformer import _conformer_layer

TINY = {"d_model": 16, "n_heads": 2, "ffn_dim": 32, "n_layers": 2, "subsampling_channels": 4}


@pytest.mark.parametrize("convolution_first", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_without_padding_the_layers_compute_torchaudios_forward(convolution_first, training):
    torch.manual_seed(0)
    model = ConformerCTC(40, 29, dropout=0.0, convolution_first=convolution_first, **TINY)
    model.train(training)
    x, lengths = torch.randn(3, 11, 16), torch.tensor([11, 11, 11])
    expected, _ = model.encoder(x, lengths)  # torchaudio's own Conformer.forward
    valid = torch.ones(3, 11, dtype=torch.bool)
    y = x.transpose(0, 1)
    for layer in model.encoder.conformer_layers:
        y = _conformer_layer(layer, y, valid, ~valid)
    torch.testing.assert_close(y.transpose(0, 1), expected)


def test_torchaudios_forward_alone_lets_padding_leak():
    """Why the layers are run here: torchaudio masks attention keys, not its convolutions."""
    torch.manual_seed(0)
    model = ConformerCTC(40, 29, dropout=0.0, **TINY).eval()
    x = torch.randn(1, 20, 16)
    alone, _ = model.encoder(x, torch.tensor([20]))
    padded = torch.cat([torch.cat([x, torch.zeros(1, 10, 16)], dim=1), torch.randn(1, 30, 16)])
    batch, _ = model.encoder(padded, torch.tensor([20, 30]))
    assert not torch.allclose(batch[:1, :20], alone, atol=1e-3)


def test_convolution_modules_use_masked_batch_norm():
    model = ConformerCTC(40, 29, **TINY)
    norms = [layer.conv_module.sequential[3] for layer in model.encoder.conformer_layers]
    assert all(isinstance(norm, MaskedBatchNorm1d) for norm in norms)
    assert isinstance(model.encoder, torchaudio.models.Conformer)


def test_an_utterance_with_no_output_frame_gives_no_nan():
    model = ConformerCTC(40, 29, **TINY).train()
    output = model(torch.randn(2, 40, 30), torch.tensor([30, 0]))
    assert output["log_probs_length"].tolist() == [8, 0]
    output["log_probs"].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        ConformerCTC(40, 29, d_model=30, n_heads=4)
