"""What every CTC model in the project shares: the batch-dict interface and fp32 log-probs."""

import torch
from torch import nn


def ctc_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the vocabulary in fp32, even inside an autocast region."""
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return torch.log_softmax(logits.float(), dim=-1)


class CTCModel(nn.Module):
    """Base class: maps `spectrogram` (B, F, T) to fp32 `log_probs` (B, T', C) and lengths.
    Subclasses compute the logits (in any precision) and the exact output lengths."""

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        """Number of output frames for each input length."""
        raise NotImplementedError

    def compute_logits(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor, **batch
    ) -> dict[str, torch.Tensor]:
        logits = self.compute_logits(spectrogram, spectrogram_length)
        return {
            "log_probs": ctc_log_probs(logits),
            "log_probs_length": self.output_lengths(spectrogram_length),
        }

    def parameter_summary(self) -> str:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return f"{type(self).__name__}: {total:,} parameters ({trainable:,} trainable)"
