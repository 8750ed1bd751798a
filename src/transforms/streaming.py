"""The features of a stream of audio, block by block, equal to those of the whole signal.

Frame `i` (torchaudio's `center=True`) covers samples `i * hop - n_fft // 2` to
`i * hop + n_fft // 2`, reflected at the signal's ends. The transform runs on a buffer of the
recent samples, whose start is a multiple of the hop; a frame leaves once the buffer holds all
its samples and does not reach back to the buffer's start (unless that is the signal's start, where
the reflection is the whole signal's too). `finish()` computes the rest with the reflection
at the true end. Normalisation must be causal: "running" (carried sums) or "none"; per
utterance normalisation needs the whole utterance and is refused.
"""

import torch

from src.transforms.features import LogFeatures, running_normalize


class StreamingFeatures:
    """`push(samples (L,)) -> spectrogram frames (F, t)`; `finish()` for the last ones."""

    def __init__(self, features: LogFeatures) -> None:
        if features.normalize == "utterance":
            raise ValueError(
                "streaming needs causal features: this model normalises each utterance over "
                "its whole length; train one with transforms.features.normalize=running (or none)"
            )
        self.features = features
        self.hop = features.hop_length
        self.half = features.n_fft // 2
        self.buffer = torch.zeros(0)
        self.offset = 0  # sample index of buffer[0], a multiple of the hop
        self.next = 0  # index of the next frame
        self.samples = 0
        n_feats = features.n_feats
        self.sums = torch.zeros(1, n_feats, 1, dtype=torch.float64)
        self.squares = torch.zeros(1, n_feats, 1, dtype=torch.float64)

    @torch.no_grad()
    def push(self, samples: torch.Tensor, final: bool = False) -> torch.Tensor:
        self.buffer = torch.cat([self.buffer, samples.float().cpu()])
        self.samples += len(samples)
        if final:
            last = int(self.features.frame_lengths(torch.tensor(self.samples))) - 1
        else:
            last = (self.samples - self.half) // self.hop  # its samples have all arrived
        if last < self.next or not len(self.buffer):
            return torch.zeros(self.features.n_feats, 0)
        frames = self.features.log_spectrum(self.buffer.unsqueeze(0))
        first = self.next - self.offset // self.hop
        block = frames[..., first : last + 1 - self.offset // self.hop]
        self.next = last + 1
        # keep n_fft samples before the next frame's centre: more than the reflection needs
        keep = max(self.next * self.hop - self.features.n_fft, 0) // self.hop * self.hop
        self.buffer, self.offset = self.buffer[keep - self.offset :], keep
        return self._normalize(block)[0]

    def _normalize(self, block: torch.Tensor) -> torch.Tensor:
        if self.features.normalize == "none":
            return block
        count = self.next - block.shape[-1]
        block, self.sums, self.squares = running_normalize(block, self.sums, self.squares, count)
        return block

    def finish(self) -> torch.Tensor:
        return self.push(torch.zeros(0), final=True)
