"""A unidirectional DeepSpeech2 run on a stream: spectrogram frames in, log-prob frames out.

The whole-utterance forward pass is reproduced exactly (within float rounding) from chunks of
any size by carrying, between calls:

- each conv block's input frames that later outputs still need (its kernel's left context;
  the zero padding at the start is the same as the whole pass's);
- each recurrent layer's hidden state (forward direction only: a bidirectional model cannot
  stream);
- the frames the lookahead row convolution still waits on (`lookahead_context` future frames).

An output frame leaves as soon as every input frame it depends on has arrived; `finish()`
adds the end-of-utterance zero padding and returns the rest. The delay is
`lookahead_frames()` input frames: the convs' right context plus the lookahead's.
"""

import torch
from torch import nn

from src.model.base import ctc_log_probs
from src.model.deepspeech2 import DeepSpeech2


class _StreamingConv:
    """One Conv2d + BatchNorm + Hardtanh block of the front end over a stream of (C, F, t)."""

    def __init__(self, block: nn.Sequential, kernel: int, stride: int, padding: int) -> None:
        self.conv, self.norm, self.activation = block
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.buffer: torch.Tensor | None = None  # input frames from index `start` on
        self.start = -padding  # the whole pass's left padding: zeros before frame 0
        self.next = 0  # index of the next output frame

    def push(self, x: torch.Tensor, final: bool) -> torch.Tensor:
        """The output frames that `x` (the next input frames) completes."""
        parts = [x] if self.buffer is not None else [x.new_zeros(*x.shape[:-1], self.padding), x]
        if final:  # the whole pass's right padding
            parts.append(x.new_zeros(*x.shape[:-1], self.padding))
        self.buffer = torch.cat([self.buffer, *parts] if self.buffer is not None else parts, -1)
        end = self.start + self.buffer.shape[-1]
        last = (end - self.kernel + self.padding) // self.stride  # last output it completes
        if last < self.next:
            kf, sf, pf = self.conv.kernel_size[0], self.conv.stride[0], self.conv.padding[0]
            freq = (x.shape[1] + 2 * pf - kf) // sf + 1
            return x.new_zeros(self.conv.out_channels, freq, 0)
        first_input = self.next * self.stride - self.padding
        window = self.buffer[
            ...,
            first_input - self.start : last * self.stride - self.padding + self.kernel - self.start,
        ]
        y = nn.functional.conv2d(
            window.unsqueeze(0),
            self.conv.weight,
            stride=(self.conv.stride[0], self.stride),
            padding=(self.conv.padding[0], 0),
        )
        self.next = last + 1
        keep_from = self.next * self.stride - self.padding
        self.buffer = self.buffer[..., keep_from - self.start :]
        self.start = keep_from
        return self.activation(self.norm(y)).squeeze(0)


class StreamingDeepSpeech2:
    """Feed `push(spectrogram (F, t))` chunk by chunk, then `finish()`; each returns the log-prob
    frames (t', C) completed so far. The model must be a unidirectional `DeepSpeech2` in eval
    mode (batch norm with its running statistics)."""

    def __init__(self, model: DeepSpeech2) -> None:
        if not isinstance(model, DeepSpeech2) or model.lookahead is None:
            raise ValueError(
                "streaming needs a unidirectional DeepSpeech2 (model.bidirectional=false): a "
                "bidirectional model reads each utterance backwards from its end"
            )
        if model.training:
            raise ValueError("streaming needs the model in eval mode (model.eval())")
        self.model = model
        front = model.conv
        self.convs = [
            _StreamingConv(block, kt, st, pt)
            for block, (_, kt), (_, st), (_, pt) in zip(
                front.blocks, front.kernels, front.strides, front.paddings, strict=True
            )
        ]
        self.states: list = [None] * len(model.rnns)
        self.pending: torch.Tensor | None = None  # recurrent outputs the lookahead waits on
        self.n_feats: int | None = None

    def lookahead_frames(self) -> int:
        """Input (feature) frames an output frame waits for beyond its own position."""
        delay, stride = 0, 1
        for conv in reversed(self.convs):  # counted in the previous layer's frames
            delay = delay * conv.stride + conv.kernel - 1 - conv.padding
        for conv in self.convs:
            stride *= conv.stride
        return delay + self.model.lookahead.context * stride

    @torch.no_grad()
    def push(self, spectrogram: torch.Tensor, final: bool = False) -> torch.Tensor:
        self.n_feats = spectrogram.shape[0]
        x = spectrogram.unsqueeze(0)  # (1 channel, F, t)
        for conv in self.convs:
            x = conv.push(x, final)
        channels, freq, time = x.shape
        x = x.reshape(1, channels * freq, time).transpose(1, 2)  # (1, t, features)
        if time:
            for index, rnn in enumerate(self.model.rnns):
                if rnn.norm is not None:
                    x = rnn.norm(x.transpose(1, 2)).transpose(1, 2)
                x, self.states[index] = rnn.forward_rnn(x, self.states[index])
            self.pending = x if self.pending is None else torch.cat([self.pending, x], 1)
        return self._lookahead(final)

    def _lookahead(self, final: bool) -> torch.Tensor:
        context = self.model.lookahead.context
        norm, linear = self.model.head
        if self.pending is None:
            return torch.zeros(0, linear.out_features)
        pending = self.pending.transpose(1, 2)  # (1, features, t)
        if final:  # the whole pass's zero padding after the last frame
            pending = nn.functional.pad(pending, (0, context))
        ready = pending.shape[-1] - context
        if ready <= 0:
            return torch.zeros(0, linear.out_features)
        y = nn.functional.hardtanh(self.model.lookahead.conv(pending), 0, 20)
        self.pending = self.pending[:, ready:]
        return ctc_log_probs(linear(norm(y).transpose(1, 2)))[0]

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        """The last frames, computed with the end-of-utterance padding of the whole pass."""
        if self.n_feats is None:
            return torch.zeros(0, self.model.head[1].out_features)
        return self.push(torch.zeros(self.n_feats, 0), final=True)
