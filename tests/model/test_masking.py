"""Batch norm over valid frames only, and the convolution length arithmetic."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from src.model.masking import (
    MaskedBatchNorm1d,
    MaskedBatchNorm2d,
    conv_output_lengths,
    sync_batch_norm,
)


def test_without_padding_it_is_batch_norm_in_training_and_evaluation():
    torch.manual_seed(0)
    reference, masked = nn.BatchNorm1d(6), MaskedBatchNorm1d(6)
    masked.load_state_dict(reference.state_dict())
    for _ in range(3):
        x = torch.randn(4, 6, 20) * 3 + 1
        torch.testing.assert_close(masked(x), reference(x))
    torch.testing.assert_close(masked.state_dict(), reference.state_dict())
    x = torch.randn(4, 6, 20)
    torch.testing.assert_close(masked.eval()(x), reference.eval()(x))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_padding_changes_neither_outputs_nor_running_statistics(momentum):
    """Padded frames hold junk; the valid frames give what batch norm of them alone gives."""
    torch.manual_seed(0)
    lengths = torch.tensor([20, 13, 7])
    valid = torch.arange(20) < lengths[:, None]
    x = torch.randn(3, 6, 20).masked_fill(~valid[:, None], 1e3)
    frames = torch.cat([x[index, :, :length] for index, length in enumerate(lengths)], dim=1)
    reference, masked = (
        nn.BatchNorm1d(6, momentum=momentum),
        MaskedBatchNorm1d(6, momentum=momentum),
    )
    for _ in range(2):
        expected = reference(frames.unsqueeze(0))[0]  # the 40 valid frames as one sequence
        output = masked(x, valid)
        got = torch.cat([output[index, :, :length] for index, length in enumerate(lengths)], 1)
        torch.testing.assert_close(got, expected)
        assert torch.all(output.masked_select(~valid[:, None]) == 0)
    torch.testing.assert_close(masked.running_mean, reference.running_mean)
    torch.testing.assert_close(masked.running_var, reference.running_var)
    assert int(masked.num_batches_tracked) == 2
    masked.eval()
    reference.eval()
    torch.testing.assert_close(masked(x, valid)[0], reference(x[:1])[0])


def test_statistics_are_fp32_under_autocast():
    masked = MaskedBatchNorm1d(4)
    x = torch.randn(2, 4, 10, dtype=torch.bfloat16)
    output = masked(x, torch.ones(2, 10, dtype=torch.bool))
    assert output.dtype == torch.bfloat16 and masked.running_mean.dtype == torch.float32


def test_bad_shapes_are_clear_errors():
    masked = MaskedBatchNorm1d(4)
    with pytest.raises(ValueError, match=r"\(B, C, T\)"):
        masked(torch.randn(2, 4))
    with pytest.raises(ValueError, match="valid must be"):
        masked(torch.randn(2, 4, 10), torch.ones(2, 9, dtype=torch.bool))


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation"),
    [(3, 2, 1, 1), (33, 2, 16, 1), (87, 1, 86, 2), (4, 3, 0, 1), (5, 3, 2, 2)],
)
def test_conv_output_lengths_are_pytorchs(kernel, stride, padding, dilation):
    conv = nn.Conv1d(1, 1, kernel, stride, padding, dilation)
    span = dilation * (kernel - 1) + 1
    for length in range(max(1, span - 2 * padding), 60):
        expected = conv(torch.zeros(1, 1, length)).shape[-1]
        assert (
            int(conv_output_lengths(torch.tensor(length), kernel, stride, padding, dilation))
            == expected
        )


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """(4, 2, 3, 12) feature maps, lengths 12, 5, 9, 3, junk in the padding."""
    generator = torch.Generator().manual_seed(0)
    valid = torch.arange(12) < torch.tensor([12, 5, 9, 3])[:, None]
    x = torch.randn(4, 2, 3, 12, generator=generator) * 2 + 1
    return x.masked_fill(~valid[:, None, None], 1e3), valid


def synced_rank(rank: int, init_file: str, results: dict) -> None:
    """One of two gloo ranks: a synced layer on its half of `padded_batch`, two training
    steps; its outputs, input gradients and running statistics into `results`."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        layer = MaskedBatchNorm2d(2)
        assert sync_batch_norm(nn.Sequential(layer)) == 1
        x, valid = padded_batch()
        x, valid = x[2 * rank : 2 * rank + 2].requires_grad_(), valid[2 * rank : 2 * rank + 2]
        for _ in range(2):
            output = layer(x, valid)
        (output * torch.arange(12.0)).sum().backward()
        results[rank] = (output.detach(), x.grad, layer.running_mean, layer.running_var)
    finally:
        dist.destroy_process_group()


def test_synced_batch_norm_on_two_ranks_equals_one_process_on_the_union(tmp_path):
    """Statistics over both ranks' valid frames: outputs, gradients (the loss summed over the
    ranks) and running statistics as one layer on the whole batch gives."""
    results = mp.Manager().dict()
    mp.spawn(synced_rank, args=(str(tmp_path / "init"), results), nprocs=2)
    layer = MaskedBatchNorm2d(2)
    x, valid = padded_batch()
    x.requires_grad_()
    for _ in range(2):
        output = layer(x, valid)
    (output * torch.arange(12.0)).sum().backward()
    expected = (output.detach(), x.grad, layer.running_mean, layer.running_var)
    for index, name in enumerate(["outputs", "input gradients"]):
        got = torch.cat([results[0][index], results[1][index]])
        torch.testing.assert_close(got, expected[index], msg=name)
    for rank in range(2):
        torch.testing.assert_close(results[rank][2:], expected[2:])
