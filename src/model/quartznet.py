"""QuartzNet (Kriman et al., 2020): 1-D time-channel separable convolutions in residual blocks.

QuartzNet BxR: a separable prologue conv (stride 2), B blocks of R separable modules each with a
residual connection, then a dilated separable conv, a pointwise conv and a pointwise CTC head.
Every batch norm is a `MaskedBatchNorm1d` (statistics over valid frames only, padding zeroed),
so no convolution ever reads a non-zero padding frame: an utterance gives the same outputs
alone or padded in a batch, in training as in evaluation.
"""

from collections.abc import Sequence

import torch
from torch import nn

from src.model.base import CTCModel
from src.model.masking import MaskedBatchNorm1d, conv_output_lengths, zero_padding
from src.utils.tensors import lengths_to_mask


class SeparableConv(nn.Module):
    """Depthwise conv over time (kernel K, per channel) + pointwise conv + masked batch norm."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, dilation: int = 1
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"kernel sizes must be odd (centred), got {kernel}")
        self.kernel, self.stride, self.dilation = kernel, stride, dilation
        self.padding = dilation * (kernel - 1) // 2
        self.depthwise = nn.Conv1d(
            in_channels,
            in_channels,
            kernel,
            stride=stride,
            padding=self.padding,
            dilation=dilation,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.norm = MaskedBatchNorm1d(out_channels)

    def time_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv_output_lengths(lengths, self.kernel, self.stride, self.padding, self.dilation)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """`valid` (B, T_out): the valid output frames; the input's padding must be zero."""
        return self.norm(self.pointwise(self.depthwise(x)), valid)


class QuartzBlock(nn.Module):
    """R separable modules (ReLU + dropout between them); a pointwise conv + batch norm of the
    block's input is added before the last ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, repeats: int, dropout: float
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            SeparableConv(in_channels if index == 0 else out_channels, out_channels, kernel)
            for index in range(repeats)
        )
        self.residual = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.residual_norm = MaskedBatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        residual = self.residual_norm(self.residual(x), valid)
        for index, module in enumerate(self.layers):
            x = module(x, valid)
            if index == len(self.layers) - 1:
                x = x + residual
            x = self.dropout(torch.relu(x))
        return x


class QuartzNet(CTCModel):
    """QuartzNet; the defaults are QuartzNet 5x5 (6.7 M parameters with 64 features).

    Args:
        prologue_channels, prologue_kernel, stride: the first separable conv (C1), the only one
            with a stride (time / `stride`).
        block_channels, block_kernels: one entry per block kind (B1..B5).
        block_repeats: how many times each block kind is repeated (S; 1 for 5x5, 2 for 10x5).
        module_repeats: separable modules per block (R).
        epilogue_channels, epilogue_kernel, epilogue_dilation: the dilated separable conv (C2).
        head_channels: the pointwise conv before the CTC head (C3).
    """

    def __init__(
        self,
        n_feats: int,
        n_tokens: int,
        prologue_channels: int = 256,
        prologue_kernel: int = 33,
        stride: int = 2,
        block_channels: Sequence[int] = (256, 256, 512, 512, 512),
        block_kernels: Sequence[int] = (33, 39, 51, 63, 75),
        block_repeats: int = 1,
        module_repeats: int = 5,
        epilogue_channels: int = 512,
        epilogue_kernel: int = 87,
        epilogue_dilation: int = 2,
        head_channels: int = 1024,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(block_channels) != len(block_kernels):
            raise ValueError(
                f"block_channels ({len(block_channels)}) and block_kernels "
                f"({len(block_kernels)}) need one entry per block"
            )
        self.prologue = SeparableConv(n_feats, prologue_channels, prologue_kernel, stride=stride)
        self.blocks = nn.ModuleList()
        channels = prologue_channels
        for out_channels, kernel in zip(block_channels, block_kernels, strict=True):
            for _ in range(block_repeats):
                self.blocks.append(
                    QuartzBlock(channels, out_channels, kernel, module_repeats, dropout)
                )
                channels = out_channels
        self.epilogue = SeparableConv(
            channels, epilogue_channels, epilogue_kernel, dilation=epilogue_dilation
        )
        self.pointwise = nn.Conv1d(epilogue_channels, head_channels, 1, bias=False)
        self.pointwise_norm = MaskedBatchNorm1d(head_channels)
        self.head = nn.Conv1d(head_channels, n_tokens, 1)
        self.dropout = nn.Dropout(dropout)

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return self.prologue.time_lengths(input_lengths)

    def compute_logits(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor
    ) -> torch.Tensor:
        x = zero_padding(spectrogram, lengths_to_mask(spectrogram_length, spectrogram.shape[-1]))
        frames = int(self.output_lengths(torch.tensor(x.shape[-1])))
        valid = lengths_to_mask(self.output_lengths(spectrogram_length), frames)
        x = self.dropout(torch.relu(self.prologue(x, valid)))
        for block in self.blocks:
            x = block(x, valid)
        x = self.dropout(torch.relu(self.epilogue(x, valid)))
        x = self.dropout(torch.relu(self.pointwise_norm(self.pointwise(x), valid)))
        return self.head(x).transpose(1, 2)
