"""DeepSpeech2's own options; tests/model/test_models.py runs the tests every model passes."""

import pytest
import torch

from src.loss import CTCLossWrapper
from src.model import DeepSpeech2
from src.model.deepspeech2 import reverse_padded

SMALL = {"rnn_layers": 2, "rnn_hidden": 32, "conv_channels": [4, 4]}


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_every_layer_of_every_variant_learns(rnn_type, bidirectional):
    """Each variant's output depends on every parameter: CTC gives all of them gradients."""
    torch.manual_seed(0)
    model = DeepSpeech2(40, 29, rnn_type=rnn_type, bidirectional=bidirectional, **SMALL)
    output = model(torch.randn(2, 40, 60), torch.tensor([60, 30]))
    assert output["log_probs"].shape == (2, 30, 29)
    loss = CTCLossWrapper()(
        **output,
        text_encoded=torch.tensor([[1, 2, 3], [4, 5, 0]]),
        text_encoded_length=torch.tensor([3, 2]),
    )["loss"]
    loss.backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert silent == []
    assert (model.lookahead is None) == bidirectional


def test_unidirectional_lookahead_sees_only_bounded_future():
    torch.manual_seed(0)
    model = DeepSpeech2(
        40, 29, bidirectional=False, lookahead_context=2, conv_strides=[[2, 1], [2, 1]], **SMALL
    ).eval()
    x = torch.randn(1, 40, 60)
    changed = x.clone()
    changed[..., 50:] += 5.0
    lengths = torch.tensor([60])
    before, after = model(x, lengths)["log_probs"], model(changed, lengths)["log_probs"]
    # conv kernels reach 5 frames ahead each, the lookahead 2 more: frame < 50 - 10 - 2 unchanged
    torch.testing.assert_close(before[0, :38], after[0, :38])
    assert not torch.allclose(before[0, 50:], after[0, 50:])


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="rnn_type"):
        DeepSpeech2(40, 29, rnn_type="transformer")
    with pytest.raises(ValueError, match="conv_kernels"):
        DeepSpeech2(40, 29, conv_kernels=[[3, 3]])


def test_reverse_padded_reverses_only_valid_frames():
    x = torch.arange(10.0).view(2, 5, 1)
    reversed_x = reverse_padded(x, torch.tensor([5, 3]))
    assert reversed_x[..., 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    torch.testing.assert_close(reverse_padded(reversed_x, torch.tensor([5, 3])), x)
