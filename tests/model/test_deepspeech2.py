"""DeepSpeech2's own options; tests/model/test_models.py runs the tests every model passes."""

import pytest
import torch

from src.loss import CTCLossWrapper
from src.model import DeepSpeech2
from src.model.deepspeech2 import RecurrentLayer, reverse_padded
from src.utils.tensors import lengths_to_mask

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


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_the_packed_and_unpacked_layers_agree_in_outputs_and_gradients(rnn_type):
    """The GPU's fused packed call and the CPU's exact unpacked pair: same weights, same
    results (checked here on the CPU, where both run)."""
    torch.manual_seed(0)
    models = {
        packed: DeepSpeech2(40, 29, rnn_type=rnn_type, packed_rnn=packed, **SMALL).train()
        for packed in (True, False)
    }
    models[True].load_state_dict(models[False].state_dict())
    spectrogram = torch.randn(3, 40, 61)
    lengths = torch.tensor([61, 44, 17])
    grads = {}
    for packed, model in models.items():
        output = model(spectrogram, lengths)
        loss = CTCLossWrapper()(
            **output,
            text_encoded=torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 0]]),
            text_encoded_length=torch.tensor([3, 3, 2]),
        )["loss"]
        loss.backward()
        grads[packed] = (
            output["log_probs"].detach(),
            {n: p.grad for n, p in model.named_parameters()},
        )
    valid = lengths_to_mask(output["log_probs_length"], output["log_probs"].shape[1])
    torch.testing.assert_close(grads[True][0][valid], grads[False][0][valid], atol=1e-5, rtol=1e-5)
    for name, grad in grads[False][1].items():
        torch.testing.assert_close(grads[True][1][name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_the_automatic_choice_runs_unpacked_on_the_cpu(monkeypatch):
    calls = []
    original = RecurrentLayer._packed
    monkeypatch.setattr(
        RecurrentLayer, "_packed", lambda self, *args: calls.append(1) or original(self, *args)
    )
    spectrogram, lengths = torch.randn(2, 40, 30), torch.tensor([30, 20])
    DeepSpeech2(40, 29, **SMALL)(spectrogram, lengths)  # packed_rnn=None on a CPU tensor
    assert calls == []
    DeepSpeech2(40, 29, packed_rnn=True, **SMALL)(spectrogram, lengths)
    assert len(calls) == SMALL["rnn_layers"]
