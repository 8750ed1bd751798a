"""Waveform augmentations of a whole padded batch on its device (a GPU while training), so
loader workers only decode audio. They read `audio` (B, L) and `audio_length` (B,) and replace
them; padding stays zero. Every draw comes from torch's generators of the batch's device, which
the training pipeline seeds per step (`src.utils.runtime.seeded`): a step's augmentation is a
function of (seed, step) alone."""

from collections.abc import Sequence

import torch
import torchaudio
from torch import nn

from src.transforms.wave_augs import NOISE_EXPONENTS, colored_noise
from src.utils.tensors import lengths_to_mask


def _uniform(low: float, high: float, count: int, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, device=device)


class BatchSpeedPerturbation(nn.Module):
    """Each utterance played at one of `factors` (drawn per utterance; with probability 1 - `p`
    it keeps its speed): resampled with torchaudio on the batch's device, one call per factor
    for the utterances that drew it, lengths divided by the factor. Rates are rounded to 100 Hz
    like `SpeedPerturbation`'s, so the kernels stay small. The draws come from torch's CPU
    generator and the new lengths are known on the host from one copy of `audio_length` (the
    batch width depends on them): one small sync per batch."""

    def __init__(
        self,
        sample_rate: int = 16000,
        factors: Sequence[float] = (0.9, 1.0, 1.1),
        p: float = 1.0,
    ) -> None:
        super().__init__()
        if not factors or min(factors) <= 0:
            raise ValueError(f"BatchSpeedPerturbation: factors must be positive, got {factors}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"BatchSpeedPerturbation: p must be in [0, 1], got {p}")
        self.sample_rate = sample_rate
        self.source_rates = [round(sample_rate * factor / 100) * 100 for factor in factors]
        self.p = p

    @property
    def min_length_ratio(self) -> float:
        """The shortest output length as a fraction of the input's (for the CTC-fit filter)."""
        return self.sample_rate / max(self.source_rates)

    def forward(
        self, audio: torch.Tensor, audio_length: torch.Tensor, **batch
    ) -> dict[str, torch.Tensor]:
        count = audio.shape[0]
        choice = torch.randint(len(self.source_rates), (count,), device=audio.device)
        keep = torch.rand(count, device=audio.device) >= self.p
        pieces, lengths = [None] * count, audio_length.clone()
        for rate_index, source_rate in enumerate(self.source_rates):
            chosen = ((choice == rate_index) & ~keep).nonzero().flatten().tolist()
            if not chosen or source_rate == self.sample_rate:
                continue
            resampled = torchaudio.functional.resample(audio[chosen], source_rate, self.sample_rate)
            new_lengths = torch.div(
                audio_length[chosen] * self.sample_rate, source_rate, rounding_mode="floor"
            )
            lengths[chosen] = new_lengths
            for position, index in enumerate(chosen):
                pieces[index] = resampled[position]
        if all(piece is None for piece in pieces):
            return {"audio": audio, "audio_length": audio_length}
        width = int(lengths.max())
        out = audio.new_zeros(count, width)
        for index in range(count):
            piece = audio[index] if pieces[index] is None else pieces[index]
            out[index, : min(width, piece.shape[0])] = piece[:width]
        out = out * lengths_to_mask(lengths, width)  # resampling rings into the padding
        return {"audio": out, "audio_length": lengths}


class BatchAdditiveNoise(nn.Module):
    """Noise of one of `colors` (per utterance) added at a signal-to-noise ratio drawn
    uniformly in [`min_snr_db`, `max_snr_db`], with probability `p` per utterance, through
    `torchaudio.functional.add_noise` over each utterance's valid samples."""

    def __init__(
        self,
        min_snr_db: float = 5.0,
        max_snr_db: float = 30.0,
        colors: Sequence[str] = ("white", "pink", "brown"),
        p: float = 0.5,
    ) -> None:
        super().__init__()
        unknown = sorted(set(colors) - set(NOISE_EXPONENTS))
        if unknown or not colors:
            raise ValueError(f"BatchAdditiveNoise: colors must be from {list(NOISE_EXPONENTS)}")
        if min_snr_db > max_snr_db or not 0.0 <= p <= 1.0:
            raise ValueError("BatchAdditiveNoise: need min_snr_db <= max_snr_db, 0 <= p <= 1")
        self.min_snr_db, self.max_snr_db = min_snr_db, max_snr_db
        self.colors = list(colors)
        self.p = p

    def forward(
        self, audio: torch.Tensor, audio_length: torch.Tensor, **batch
    ) -> dict[str, torch.Tensor]:
        count, device = audio.shape[0], audio.device
        color = torch.randint(len(self.colors), (count,), device=device)
        snr = _uniform(self.min_snr_db, self.max_snr_db, count, device)
        apply = torch.rand(count, device=device) < self.p
        valid = lengths_to_mask(audio_length, audio.shape[1])
        noise = torch.zeros_like(audio)
        for index, name in enumerate(self.colors):  # every colour drawn, so draws stay aligned
            noise = torch.where(
                (color == index)[:, None], colored_noise(audio.shape, name, device=device), noise
            )
        noisy = torchaudio.functional.add_noise(audio, noise * valid, snr, audio_length)
        return {
            "audio": torch.where(apply[:, None], noisy, audio) * valid,
            "audio_length": audio_length,
        }
