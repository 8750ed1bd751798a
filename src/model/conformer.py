"""Conformer-CTC: convolutional subsampling (time / 4), torchaudio's Conformer, a linear head.

torchaudio's `Conformer` masks padded keys in self-attention but not its convolution module:
the depthwise convolution reads padded frames and its batch norm counts them. `ConformerCTC`
keeps torchaudio's layers (and parameter names) and runs each one itself, masking the padding
before the depthwise convolution and using `MaskedBatchNorm1d`, so an utterance gives the same
outputs alone or padded in a batch, in training as in evaluation.
"""

import torch
import torchaudio
from torch import nn
from torchaudio.models.conformer import ConformerLayer

from src.model.base import CTCModel
from src.model.masking import MaskedBatchNorm1d, conv_output_lengths, zero_padding
from src.utils.tensors import lengths_to_mask

KERNEL, STRIDE, PADDING = 3, 2, 1  # each of the two subsampling convolutions


class ConvSubsampling(nn.Module):
    """Two 3x3 Conv2d of stride 2 over (freq, time) with ReLU, then a linear map to `d_model`.

    Time shrinks 4x: T -> ceil(ceil(T / 2) / 2); padding frames are re-zeroed after each conv.
    """

    def __init__(self, n_feats: int, channels: int, d_model: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, channels, KERNEL, STRIDE, PADDING)
            for in_channels in (1, channels)
        )
        freq = n_feats
        for _ in self.convs:
            freq = int(conv_output_lengths(torch.tensor(freq), KERNEL, STRIDE, PADDING))
        self.linear = nn.Linear(channels * freq, d_model)

    def time_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for _ in self.convs:
            lengths = conv_output_lengths(lengths, KERNEL, STRIDE, PADDING)
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = zero_padding(x, lengths_to_mask(lengths, x.shape[-1])).unsqueeze(1)  # (B, 1, F, T)
        for conv in self.convs:
            lengths = conv_output_lengths(lengths, KERNEL, STRIDE, PADDING)
            x = torch.relu(conv(x))
            x = x * lengths_to_mask(lengths, x.shape[-1])[:, None, None, :].to(x.dtype)
        batch, channels, freq, time = x.shape
        x = x.permute(0, 3, 1, 2).reshape(batch, time, channels * freq)
        return self.linear(x), lengths


def _convolution_module(
    layer: ConformerLayer, x: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """torchaudio's convolution module on (T, B, D), padding zeroed before the depthwise conv
    and left out of the batch norm."""
    module = layer.conv_module
    pointwise_in, glu, depthwise, norm, activation, pointwise_out, dropout = module.sequential
    y = module.layer_norm(x).permute(1, 2, 0)  # (B, D, T)
    y = depthwise(zero_padding(glu(pointwise_in(y)), valid))
    y = dropout(pointwise_out(activation(norm(y, valid))))
    return y.permute(2, 0, 1)


def _conformer_layer(
    layer: ConformerLayer, x: torch.Tensor, valid: torch.Tensor, key_padding: torch.Tensor
) -> torch.Tensor:
    """`ConformerLayer.forward` with the padding masked in its convolution module."""
    x = x + 0.5 * layer.ffn1(x)
    if layer.convolution_first:
        x = x + _convolution_module(layer, x, valid)
    y = layer.self_attn_layer_norm(x)
    y, _ = layer.self_attn(y, y, y, key_padding_mask=key_padding, need_weights=False)
    x = x + layer.self_attn_dropout(y)
    if not layer.convolution_first:
        x = x + _convolution_module(layer, x, valid)
    x = x + 0.5 * layer.ffn2(x)
    return layer.final_layer_norm(x)


class ConformerCTC(CTCModel):
    """Conformer encoder (Gulati et al., 2020) over 4x subsampled features, linear CTC head."""

    def __init__(
        self,
        n_feats: int,
        n_tokens: int,
        d_model: int = 256,
        n_heads: int = 4,
        ffn_dim: int = 1024,
        n_layers: int = 16,
        conv_kernel: int = 31,
        subsampling_channels: int = 256,
        dropout: float = 0.1,
        convolution_first: bool = False,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.subsampling = ConvSubsampling(n_feats, subsampling_channels, d_model)
        self.input_dropout = nn.Dropout(dropout)
        self.encoder = torchaudio.models.Conformer(
            input_dim=d_model,
            num_heads=n_heads,
            ffn_dim=ffn_dim,
            num_layers=n_layers,
            depthwise_conv_kernel_size=conv_kernel,
            dropout=dropout,
            convolution_first=convolution_first,
        )
        for layer in self.encoder.conformer_layers:  # batch norm over valid frames only
            layer.conv_module.sequential[3] = MaskedBatchNorm1d(d_model)
        self.head = nn.Linear(d_model, n_tokens)

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return self.subsampling.time_lengths(input_lengths)

    def compute_logits(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor
    ) -> torch.Tensor:
        x, lengths = self.subsampling(spectrogram, spectrogram_length)
        valid = lengths_to_mask(lengths, x.shape[1])
        # An utterance with no output frame still attends to its first one (no all-masked row,
        # whose softmax would be NaN); its outputs are padding anyway.
        key_padding = ~lengths_to_mask(lengths.clamp_min(1), x.shape[1])
        x = self.input_dropout(x).transpose(0, 1)  # (T, B, D), as torchaudio's layers take it
        for layer in self.encoder.conformer_layers:
            x = _conformer_layer(layer, x, valid, key_padding)
        return self.head(x.transpose(0, 1))
