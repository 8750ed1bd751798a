"""A trivial baseline: a per-frame MLP, no context across time."""

import torch
from torch import nn

from src.model.base import CTCModel


class BaselineModel(CTCModel):
    def __init__(self, n_feats: int, n_tokens: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_feats, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_tokens),
        )

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return input_lengths

    def compute_logits(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor
    ) -> torch.Tensor:
        return self.net(spectrogram.transpose(1, 2))
