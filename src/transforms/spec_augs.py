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
