"""Batch feature extraction on the model's device: log spectrogram or log-mel, normalised."""

from collections.abc import Mapping
from typing import Any

import torch
import torchaudio
from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.utils.spec import build_from_spec, class_targets
from src.utils.tensors import lengths_to_mask


class LogFeatures(nn.Module):
    """Wraps a torchaudio power-spectrum transform: log, then per-utterance normalisation.

    Reads `audio` (B, L) and `audio_length`; adds `spectrogram` (B, F, T) and
    `spectrogram_length`. Each utterance is normalised per feature over its own valid frames.
    """

    def __init__(
        self,
        transform: nn.Module,
        sample_rate: int,
        n_feats: int,
        n_fft: int,
        hop_length: int,
        normalize: bool,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.transform = transform
        self.sample_rate = sample_rate
        self.n_feats = n_feats
        self.hop_length = hop_length
        self.normalize = normalize

    def frame_lengths(self, audio_length: torch.Tensor) -> torch.Tensor:
        """Frames torchaudio produces for each length (center=True)."""
        return torch.div(audio_length, self.hop_length, rounding_mode="floor") + 1

    @torch.autocast(device_type="cuda", enabled=False)
    @torch.autocast(device_type="cpu", enabled=False)
    def forward(self, audio: torch.Tensor, audio_length: torch.Tensor, **batch) -> dict:
        if audio.shape[-1] <= self.n_fft // 2:  # too short for reflect padding: pad with silence
            audio = nn.functional.pad(audio, (0, self.n_fft - audio.shape[-1]))
        features = torch.log(self.transform(audio.float()).clamp_min(1e-9))
        lengths = self.frame_lengths(audio_length)
        mask = lengths_to_mask(lengths, features.shape[-1]).unsqueeze(1)
        if self.normalize:
            counts = lengths.view(-1, 1, 1).to(features.dtype)
            mean = (features * mask).sum(-1, keepdim=True) / counts
            var = (((features - mean) * mask) ** 2).sum(-1, keepdim=True) / counts
            features = (features - mean) / (var + 1e-5).sqrt()
        return {"spectrogram": features * mask, "spectrogram_length": lengths}


class LogMelSpectrogram(LogFeatures):
    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 400,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        normalize: bool = True,
    ) -> None:
        transform = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            n_mels=n_mels,
        )
        super().__init__(transform, sample_rate, n_mels, n_fft, hop_length, normalize)


class LogSpectrogram(LogFeatures):
    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 320,
        win_length: int = 320,
        hop_length: int = 160,
        normalize: bool = True,
    ) -> None:
        transform = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, win_length=win_length, hop_length=hop_length
        )
        super().__init__(transform, sample_rate, n_fft // 2 + 1, n_fft, hop_length, normalize)


FEATURE_TARGETS = class_targets([LogMelSpectrogram, LogSpectrogram], "src.transforms")


def build_features(spec: Mapping[str, Any] | DictConfig, where: str = "features") -> LogFeatures:
    """The features a spec (`_target_` one of `FEATURE_TARGETS`, plain-data keys) describes."""
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    return build_from_spec(spec, FEATURE_TARGETS, where)
