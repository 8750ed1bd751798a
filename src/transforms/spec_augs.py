"""Spectrogram augmentations, applied per training batch after the features."""

import torch
import torchaudio
from torch import nn


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019) with masks drawn per utterance:
    `torchaudio.transforms.SpecAugment` with zero masking.

    Reads and replaces `spectrogram` (B, F, T); masked bins take the value 0, the mean of the
    normalised features. Each mask is up to `*_mask_param` bins or frames wide, placed
    uniformly over the padded batch (length-bucketed batches waste few masks on padding).
    Applied to the whole batch with probability `p`. Every draw (`p`, mask widths and
    positions) comes from torch's generators: the CPU one and the batch's device's, which the
    training pipeline seeds per step (`src.utils.runtime.seeded`), so a step's masks are a
    function of (seed, step) alone.
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
        self.masks = torchaudio.transforms.SpecAugment(
            n_time_masks=n_time_masks,
            time_mask_param=time_mask_param,
            n_freq_masks=n_freq_masks,
            freq_mask_param=freq_mask_param,
            iid_masks=True,
            zero_masking=True,
        )
        self.p = p

    def forward(self, spectrogram: torch.Tensor, **batch) -> dict[str, torch.Tensor]:
        if torch.rand(()).item() >= self.p:  # on the CPU: no device sync
            return {"spectrogram": spectrogram}
        return {"spectrogram": self.masks(spectrogram)}


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """The htk mel scale, the one `torchaudio.transforms.MelSpectrogram` uses by default."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class VocalTractLengthPerturbation(nn.Module):
    """Vocal tract length perturbation (Jaitly and Hinton, 2013) of log-mel features: each
    utterance's frequency axis is scaled by its own random factor in [`min_factor`,
    `max_factor`], so its formants move as with a shorter (> 1) or longer (< 1) vocal tract
    while pitch contour and tempo stay: a new voice at the cost of an interpolation.

    The warp is piecewise linear in Hz: frequencies up to the knee, `boundary` x the top
    frequency (x the factor when it is below 1), scale by the factor; above it they map
    linearly onto what is left below the top, so the band stays filled. Output bin m takes the
    input at the fractional bin of its centre frequency warped back, interpolated between the
    two neighbouring bins. Bins are those of `src.transforms.LogMelSpectrogram` (htk mel
    scale, 0 Hz to `sample_rate` / 2, `n_mels` bins). Padding frames stay zero, lengths are
    kept. Reads and replaces `spectrogram` (B, F, T); every draw comes from torch's CPU
    generator, which the training pipeline seeds per step.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        min_factor: float = 0.9,
        max_factor: float = 1.1,
        boundary: float = 0.85,
        p: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0 < min_factor <= max_factor:
            raise ValueError(f"need 0 < min_factor <= max_factor, got {min_factor}, {max_factor}")
        if not 0 < boundary < 1:
            raise ValueError(f"boundary must be in (0, 1), got {boundary}")
        self.min_factor, self.max_factor = min_factor, max_factor
        self.boundary, self.p = boundary, p
        self.n_mels = n_mels
        self.top = sample_rate / 2
        # the filters' centres: n_mels of n_mels + 2 points evenly spaced in mel, 0 Hz to top
        self.mel_step = float(hz_to_mel(torch.tensor(self.top, dtype=torch.float64))) / (n_mels + 1)
        self.centres = mel_to_hz(self.mel_step * torch.arange(1, n_mels + 1, dtype=torch.float64))

    def source_bins(self, factors: torch.Tensor) -> torch.Tensor:
        """(B,) warp factors -> (B, n_mels) the fractional input bin each output bin reads."""
        output = self.centres.unsqueeze(0)  # on the CPU, like the factors
        factor = factors.double().unsqueeze(1)
        knee = self.boundary * self.top * factor.clamp(max=1.0)  # where the slope changes
        below = output / factor
        above = self.top - (self.top - output) * (self.top - knee / factor) / (self.top - knee)
        source = torch.where(output <= knee, below, above)
        return (hz_to_mel(source) / self.mel_step - 1.0).clamp(0, self.n_mels - 1)

    def forward(self, spectrogram: torch.Tensor, **batch) -> dict[str, torch.Tensor]:
        if torch.rand(()).item() >= self.p:  # on the CPU: no device sync
            return {"spectrogram": spectrogram}
        batch_size, n_bins, _ = spectrogram.shape
        if n_bins != self.n_mels:
            raise ValueError(
                f"VocalTractLengthPerturbation: built for {self.n_mels} mel bins, the features "
                f"have {n_bins} (set its n_mels to the features' n_mels)"
            )
        factors = torch.empty(batch_size, dtype=torch.float64).uniform_(
            self.min_factor, self.max_factor
        )
        position = self.source_bins(factors)
        lower = position.floor().long().clamp(max=n_bins - 2)
        weight = (position - lower).to(spectrogram.device, spectrogram.dtype).unsqueeze(-1)
        lower = lower.to(spectrogram.device).unsqueeze(-1).expand_as(spectrogram)
        low, high = spectrogram.gather(1, lower), spectrogram.gather(1, lower + 1)
        return {"spectrogram": low + weight * (high - low)}
