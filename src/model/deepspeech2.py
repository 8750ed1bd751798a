"""DeepSpeech2 (Amodei et al., 2016): 2-D convolutions, a recurrent stack and a linear CTC head."""

import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from src.model.base import CTCModel
from src.model.masking import MaskedBatchNorm1d, MaskedBatchNorm2d
from src.utils.tensors import lengths_to_mask

RNN_TYPES = {"gru": nn.GRU, "lstm": nn.LSTM}


def _pairs(values: Sequence, n_layers: int, what: str) -> list[tuple[int, int]]:
    if len(values) != n_layers:
        raise ValueError(f"{what} needs one entry per conv layer ({n_layers}), got {len(values)}")
    return [(int(v[0]), int(v[1])) for v in values]


class ConvFrontEnd(nn.Module):
    """Conv2d + BatchNorm + Hardtanh blocks over (freq, time). Batch norm counts valid frames
    only and leaves the padding frames zero, so an utterance's activations do not depend on
    its batch's padding, in training too."""

    def __init__(
        self,
        n_feats: int,
        channels: Sequence[int],
        kernels: Sequence[Sequence[int]],
        strides: Sequence[Sequence[int]],
    ) -> None:
        super().__init__()
        n_layers = len(channels)
        self.kernels = _pairs(kernels, n_layers, "conv_kernels")
        self.strides = _pairs(strides, n_layers, "conv_strides")
        self.paddings = [(kf // 2, kt // 2) for kf, kt in self.kernels]
        self.blocks = nn.ModuleList()
        in_channels, freq = 1, n_feats
        for out_channels, kernel, stride, padding in zip(
            channels, self.kernels, self.strides, self.paddings, strict=True
        ):
            self.blocks.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False),
                    MaskedBatchNorm2d(out_channels),
                    nn.Hardtanh(0, 20, inplace=True),
                )
            )
            freq = (freq + 2 * padding[0] - kernel[0]) // stride[0] + 1
            in_channels = out_channels
        if freq < 1:
            raise ValueError(f"the conv front end leaves no frequency bins for n_feats={n_feats}")
        self.output_size = in_channels * freq

    def time_lengths(self, lengths: torch.Tensor, n_blocks: int | None = None) -> torch.Tensor:
        """Exact output lengths along time from the conv arithmetic."""
        for (_, kt), (_, st), (_, pt) in list(
            zip(self.kernels, self.strides, self.paddings, strict=True)
        )[:n_blocks]:
            lengths = torch.div(lengths + 2 * pt - kt, st, rounding_mode="floor") + 1
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.unsqueeze(1)  # (B, 1, F, T)
        for index, (conv, norm, activation) in enumerate(self.blocks):
            x = conv(x)
            valid = lengths_to_mask(self.time_lengths(lengths, index + 1), x.shape[-1])
            x = activation(norm(x, valid))  # padding stays 0: the norm zeroes it, hardtanh(0) = 0
        batch, channels, freq, time = x.shape
        return x.reshape(batch, channels * freq, time).transpose(1, 2), self.time_lengths(lengths)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of (B, T, C) within its length; padding stays at the end."""
    time = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    lengths = lengths.to(x.device).unsqueeze(1)
    index = torch.where(time < lengths, lengths - 1 - time, time)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class RecurrentLayer(nn.Module):
    """Optional batch norm (over valid frames) then one GRU/LSTM layer, bidirectional outputs
    summed. Lengths are respected exactly in two ways, with the same weights and results:

    - unpacked (the CPU's choice): padding only ever trails the valid frames, so the forward
      direction runs on the batch as it is and the backward one on each sequence reversed within
      its length; on a CPU this is 1.5-3x faster than packing;
    - packed (the GPU's choice): one fused bidirectional cuDNN call over packed sequences, the
      two directions' weights handed to it by `torch.func.functional_call`.

    `packed=None` picks by the device of the input. Parameters live in `forward_rnn` and
    `backward_rnn` either way, so checkpoints do not depend on the choice.
    """

    def __init__(
        self,
        input_size: int,
        hidden: int,
        rnn_type: str,
        bidirectional: bool,
        batch_norm: bool,
        packed: bool | None = None,
    ) -> None:
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)}, got {rnn_type!r}")
        rnn_class = RNN_TYPES[rnn_type]
        self.norm = MaskedBatchNorm1d(input_size) if batch_norm else None
        self.forward_rnn = rnn_class(input_size, hidden, batch_first=True)
        self.backward_rnn = (
            rnn_class(input_size, hidden, batch_first=True) if bidirectional else None
        )
        self.packed = packed
        # the fused call's shape only; its own weights are never used (not a submodule)
        self._bidirectional = [rnn_class(input_size, hidden, batch_first=True, bidirectional=True)]

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, cpu_lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`cpu_lengths`: the same lengths on the CPU, which packing needs (given, it saves a
        host sync per layer)."""
        valid = lengths_to_mask(lengths.to(x.device), x.shape[1])
        if self.norm is not None:
            x = self.norm(x.transpose(1, 2), valid).transpose(1, 2)
        if self.backward_rnn is None:
            output, _ = self.forward_rnn(x)
        elif self.packed if self.packed is not None else x.is_cuda:
            output = self._packed(x, lengths.cpu() if cpu_lengths is None else cpu_lengths)
        else:
            output, _ = self.forward_rnn(x)
            backward_output, _ = self.backward_rnn(reverse_padded(x, lengths))
            output = output + reverse_padded(backward_output, lengths)
        return output * valid.unsqueeze(-1)

    def _packed(self, x: torch.Tensor, cpu_lengths: torch.Tensor) -> torch.Tensor:
        weights = dict(self.forward_rnn.named_parameters())
        weights.update(
            {f"{name}_reverse": value for name, value in self.backward_rnn.named_parameters()}
        )
        packed = pack_padded_sequence(x, cpu_lengths, batch_first=True, enforce_sorted=False)
        with warnings.catch_warnings():  # the two directions' weights are not one flat buffer
            warnings.filterwarnings("ignore", message="RNN module weights are not part")
            output, _ = functional_call(self._bidirectional[0], weights, (packed,))
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        forward, backward = output.chunk(2, dim=-1)
        return forward + backward


class Lookahead(nn.Module):
    """Row convolution over `context` future frames, for unidirectional models."""

    def __init__(self, features: int, context: int) -> None:
        super().__init__()
        self.context = context
        self.conv = nn.Conv1d(features, features, context + 1, groups=features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x.transpose(1, 2), (0, self.context))
        return nn.functional.hardtanh(self.conv(x), 0, 20).transpose(1, 2)


class DeepSpeech2(CTCModel):
    def __init__(
        self,
        n_feats: int,
        n_tokens: int,
        conv_channels: Sequence[int] = (32, 32),
        conv_kernels: Sequence[Sequence[int]] = ((41, 11), (21, 11)),
        conv_strides: Sequence[Sequence[int]] = ((2, 2), (2, 1)),
        rnn_type: str = "gru",
        rnn_layers: int = 5,
        rnn_hidden: int = 512,
        bidirectional: bool = True,
        lookahead_context: int = 20,
        packed_rnn: bool | None = None,
    ) -> None:
        """`packed_rnn`: bidirectional layers as one packed cuDNN call (True) or the exact
        unpacked pair (False); None picks packed on CUDA, unpacked on the CPU (the faster
        there; both give the same outputs)."""
        super().__init__()
        self.conv = ConvFrontEnd(n_feats, conv_channels, conv_kernels, conv_strides)
        self.rnns = nn.ModuleList(
            RecurrentLayer(
                self.conv.output_size if index == 0 else rnn_hidden,
                rnn_hidden,
                rnn_type,
                bidirectional,
                batch_norm=index > 0,
                packed=packed_rnn,
            )
            for index in range(rnn_layers)
        )
        self.lookahead = None if bidirectional else Lookahead(rnn_hidden, lookahead_context)
        self.head = nn.Sequential(MaskedBatchNorm1d(rnn_hidden), nn.Linear(rnn_hidden, n_tokens))

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return self.conv.time_lengths(input_lengths)

    def compute_logits(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor
    ) -> torch.Tensor:
        x, lengths = self.conv(spectrogram, spectrogram_length)
        cpu_lengths = lengths.cpu() if x.is_cuda else lengths  # one host sync, for packing
        for rnn in self.rnns:
            x = rnn(x, lengths, cpu_lengths)
        if self.lookahead is not None:
            x = self.lookahead(x)
        norm, linear = self.head
        valid = lengths_to_mask(lengths, x.shape[1])
        return linear(norm(x.transpose(1, 2), valid).transpose(1, 2))
