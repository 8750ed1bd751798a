"""Training-time augmentations: on the waveform per utterance, on the spectrogram per batch."""

import random

import torch
import torchaudio
from torch import nn


class SpeedPerturbation(nn.Module):
    """Play an utterance faster or slower by a random factor: tempo, pitch and formants move
    together, like a different speaker. Applied with probability `p`."""

    def __init__(
        self,
        sample_rate: int = 16000,
        min_factor: float = 0.9,
        max_factor: float = 1.1,
        p: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0 < min_factor <= max_factor:
            raise ValueError(f"need 0 < min_factor <= max_factor, got {min_factor}, {max_factor}")
        self.sample_rate = sample_rate
        self.min_factor = min_factor
        self.max_factor = max_factor
        self.p = p

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if random.random() >= self.p:
            return audio
        factor = random.uniform(self.min_factor, self.max_factor)
        source_rate = (
            round(self.sample_rate * factor / 100) * 100
        )  # keeps the resampling kernel small
        if source_rate == self.sample_rate:
            return audio
        return torchaudio.functional.resample(audio, source_rate, self.sample_rate)


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019) with masks drawn per utterance.

    Reads and replaces `spectrogram` (B, F, T); masked bins take the value 0, the mean of the
    normalised features. Applied to the whole batch with probability `p`.
    """

    def __init__(
        self,
        freq_mask_param: int = 10,
        time_mask_param: int = 20,
        n_freq_masks: int = 2,
        n_time_masks: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__()
        self.masks = nn.Sequential(
            *[torchaudio.transforms.FrequencyMasking(freq_mask_param, iid_masks=True)]
            * n_freq_masks,
            *[torchaudio.transforms.TimeMasking(time_mask_param, iid_masks=True)] * n_time_masks,
        )
        self.p = p

    def forward(self, spectrogram: torch.Tensor, **batch) -> dict[str, torch.Tensor]:
        if random.random() >= self.p:
            return {"spectrogram": spectrogram}
        return {"spectrogram": self.masks(spectrogram.unsqueeze(1)).squeeze(1)}
