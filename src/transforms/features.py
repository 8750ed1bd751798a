"""Batch feature extraction on the model's device: log spectrogram or log-mel, normalised."""

from collections.abc import Mapping
from typing import Any

import torch
import torchaudio
from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.utils.spec import build_from_spec, class_targets
from src.utils.tensors import lengths_to_mask

NORMALIZATIONS = ("utterance", "running", "none")


def normalization_mode(normalize: bool | str) -> str:
    """`normalize` as one of `NORMALIZATIONS` (true: "utterance", false: "none")."""
    if isinstance(normalize, bool):
        return "utterance" if normalize else "none"
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be true, false or one of {NORMALIZATIONS}: {normalize!r}")
    return normalize


def running_normalize(
    features: torch.Tensor, sums: torch.Tensor, squares: torch.Tensor, count: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Causal normalisation of (B, F, T): frame t by the mean and variance of frames <= t, per
    feature. `sums`/`squares` (B, F, 1, float64) and `count` carry the frames before this
    block (zeros and 0 at the start), so a stream cut into blocks gets the same values;
    returns the normalised block and the new sums and squares."""
    block = features.double()
    cumulative = sums + block.cumsum(-1)
    cumulative_squares = squares + (block**2).cumsum(-1)
    counts = torch.arange(count + 1, count + block.shape[-1] + 1, device=block.device)
    mean = cumulative / counts
    var = (cumulative_squares / counts - mean**2).clamp_min(0)
    normalized = ((block - mean) / (var + 1e-5).sqrt()).to(features.dtype)
    return normalized, cumulative[..., -1:], cumulative_squares[..., -1:]


class LogFeatures(nn.Module):
    """Wraps a torchaudio power-spectrum transform: log, then normalisation per feature.

    Reads `audio` (B, L) and `audio_length`; adds `spectrogram` (B, F, T) and
    `spectrogram_length`. `normalize`: "utterance" (or true) normalises each utterance over its
    own valid frames; "running" normalises frame t over frames 0..t (causal, for streaming);
    "none" (or false) keeps the log values.
    """

    def __init__(
        self,
        transform: nn.Module,
        sample_rate: int,
        n_feats: int,
        n_fft: int,
        hop_length: int,
        normalize: bool | str,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.transform = transform
        self.sample_rate = sample_rate
        self.n_feats = n_feats
        self.hop_length = hop_length
        self.normalize = normalization_mode(normalize)

    def frame_lengths(self, audio_length: torch.Tensor) -> torch.Tensor:
        """Frames torchaudio produces for each length (center=True)."""
        return torch.div(audio_length, self.hop_length, rounding_mode="floor") + 1

    @torch.autocast(device_type="cuda", enabled=False)
    @torch.autocast(device_type="cpu", enabled=False)
    def log_spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, L) audio -> (B, F, T) log power, before normalisation and masking."""
        if audio.shape[-1] <= self.n_fft // 2:  # too short for reflect padding: pad with silence
            audio = nn.functional.pad(audio, (0, self.n_fft - audio.shape[-1]))
        return torch.log(self.transform(audio.float()).clamp_min(1e-9))

    @torch.autocast(device_type="cuda", enabled=False)
    @torch.autocast(device_type="cpu", enabled=False)
    def forward(self, audio: torch.Tensor, audio_length: torch.Tensor, **batch) -> dict:
        features = self.log_spectrum(audio)
        lengths = self.frame_lengths(audio_length)
        mask = lengths_to_mask(lengths, features.shape[-1]).unsqueeze(1)
        if self.normalize == "running":
            zeros = features.new_zeros(*features.shape[:2], 1, dtype=torch.float64)
            features = running_normalize(features, zeros, zeros, 0)[0]
        elif self.normalize == "utterance":
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
        normalize: bool | str = True,
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
        normalize: bool | str = True,
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
