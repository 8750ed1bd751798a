import pytest
import torch

from src.loss import CTCLossWrapper
from src.model import BaselineModel, DeepSpeech2
from src.model.deepspeech2 import reverse_padded

SMALL = {"rnn_layers": 2, "rnn_hidden": 32, "conv_channels": [4, 4]}


@pytest.mark.parametrize(
    "strides",
    [[[2, 2], [2, 1]], [[2, 3], [1, 2]], [[1, 1], [1, 1]]],
)
@pytest.mark.parametrize("kernels", [[[41, 11], [21, 11]], [[5, 4], [3, 2]]])
def test_output_lengths_match_real_outputs(strides, kernels):
    torch.manual_seed(0)
    model = DeepSpeech2(40, 29, conv_kernels=kernels, conv_strides=strides, **SMALL).eval()
    for length in [1, 2, 7, 50, 101, 333]:
        spectrogram = torch.randn(1, 40, length)
        output = model(spectrogram, torch.tensor([length]))
        assert output["log_probs"].shape[1] == int(output["log_probs_length"][0])


def test_padding_does_not_change_outputs():
    """Packed sequences and masked convs: an utterance decodes the same alone or padded."""
    torch.manual_seed(0)
    model = DeepSpeech2(40, 29, **SMALL).eval()
    short, long = torch.randn(1, 40, 37), torch.randn(1, 40, 80)
    padded = torch.cat([torch.nn.functional.pad(short, (0, 43)), long])
    batch = model(padded, torch.tensor([37, 80]))
    alone = model(short, torch.tensor([37]))
    valid = int(alone["log_probs_length"][0])
    assert int(batch["log_probs_length"][0]) == valid
    torch.testing.assert_close(
        batch["log_probs"][0, :valid], alone["log_probs"][0], atol=1e-4, rtol=1e-4
    )


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


def test_log_probs_are_fp32_under_bf16_autocast():
    model = DeepSpeech2(40, 29, **SMALL)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(torch.randn(2, 40, 30), torch.tensor([30, 20]))
    assert output["log_probs"].dtype == torch.float32


def test_baseline_keeps_frame_count():
    output = BaselineModel(40, 29)(torch.randn(2, 40, 30), torch.tensor([30, 12]))
    assert output["log_probs"].shape == (2, 30, 29)
    assert output["log_probs_length"].tolist() == [30, 12]


def test_reverse_padded_reverses_only_valid_frames():
    x = torch.arange(10.0).view(2, 5, 1)
    reversed_x = reverse_padded(x, torch.tensor([5, 3]))
    assert reversed_x[..., 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    torch.testing.assert_close(reverse_padded(reversed_x, torch.tensor([5, 3])), x)
