"""Layers that ignore padding, so an utterance gives the same outputs alone or in any batch."""

from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def conv_output_lengths(
    lengths: torch.Tensor, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> torch.Tensor:
    """Output lengths of a convolution along one axis (PyTorch's arithmetic, exact)."""
    span = dilation * (kernel - 1) + 1
    return torch.div(lengths + 2 * padding - span, stride, rounding_mode="floor") + 1


def zero_padding(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, C, T) with every frame where `valid` (B, T) is False set to zero."""
    return x.masked_fill(~valid.unsqueeze(1), 0)


class SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward sums the gradients over the ranks too: the gradient of
    the sum of every rank's loss."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        summed = tensor.clone()
        dist.all_reduce(summed, group=group)
        return summed

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        summed = grad.clone()
        dist.all_reduce(summed, group=ctx.group)
        return summed, None


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm of (B, C, T) over the valid frames only, padding zeroed on the way out.

    `valid` (B, T) is True on valid frames (None: all are). Training statistics are the mean
    and variance of the valid frames, and only they update the running statistics (unbiased
    variance, PyTorch's momentum rule, `momentum=None` for a cumulative average), so padding
    changes neither the outputs nor the stored state. Parameters and buffers are
    nn.BatchNorm1d's: state dicts load either way. Statistics are computed in fp32.

    `synced` (set by `sync_batch_norm`, under torchrun): in training the statistics are those
    of the valid frames of every rank's batch (sums and counts all-reduced, differentiably),
    as if one process normalised the union of the batches. Every rank must then run the same
    training forwards (DDP's steps do); evaluation stays per rank.
    """

    synced = False
    process_group: Any = None

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if x.dim() != 3:
            raise ValueError(f"expected x of shape (B, C, T), got {tuple(x.shape)}")
        if valid is None:
            valid = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool, device=x.device)
        if valid.shape != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"valid must be (B, T) = {(x.shape[0], x.shape[2])}, got {tuple(valid.shape)}"
            )
        frames = x.float()
        mask = valid.unsqueeze(1)
        if self.training or not self.track_running_stats:
            sums = self._over_ranks(
                torch.cat([frames.masked_fill(~mask, 0).sum((0, 2)), mask.sum().reshape(1)])
            )
            count = sums[-1].clamp_min(1)
            mean = sums[:-1] / count
            centred = (frames - mean[:, None]).masked_fill(~mask, 0)
            var = self._over_ranks(centred.pow(2).sum((0, 2))) / count
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
        else:
            mean, var = self.running_mean, self.running_var
        normed = (frames - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        if self.affine:
            normed = normed * self.weight[:, None] + self.bias[:, None]
        return normed.masked_fill(~mask, 0).to(x.dtype)

    def _over_ranks(self, sums: torch.Tensor) -> torch.Tensor:
        """`sums` summed over the ranks when synced and training (gradients flow back)."""
        if self.synced and self.training and dist.is_initialized():
            return SumOverRanks.apply(sums, self.process_group)
        return sums

    @torch.no_grad()
    def _update_running_stats(
        self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor
    ) -> None:
        self.num_batches_tracked += 1
        momentum = self.momentum
        if momentum is None:  # a cumulative average
            momentum = 1.0 / float(self.num_batches_tracked)
        unbiased = var * count / (count - 1).clamp_min(1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)


class MaskedBatchNorm2d(MaskedBatchNorm1d):
    """`MaskedBatchNorm1d` for (B, C, F, T) feature maps whose time frames `valid` (B, T) marks:
    statistics over every bin of the valid frames (nn.BatchNorm2d's state dict)."""

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if x.dim() != 4:
            raise ValueError(f"expected x of shape (B, C, F, T), got {tuple(x.shape)}")
        batch, channels, freq, time = x.shape
        if valid is not None:
            valid = valid.unsqueeze(1).expand(batch, freq, time).reshape(batch, freq * time)
        flat = super().forward(x.reshape(batch, channels, freq * time), valid)
        return flat.reshape(batch, channels, freq, time)


def sync_batch_norm(model: nn.Module, process_group: Any = None) -> int:
    """Make every masked batch norm of `model` normalise over all ranks' valid frames in
    training (torch's `SyncBatchNorm` cannot leave padding out); the number of layers synced."""
    layers = [module for module in model.modules() if isinstance(module, MaskedBatchNorm1d)]
    for layer in layers:
        layer.synced, layer.process_group = True, process_group
    return len(layers)
