"""Greedy CTC decoding: the best token per frame, repeats merged, blanks dropped."""

import torch

from src.text_encoder import CTCCharTextEncoder


class ArgmaxDecoder:
    """Common decoder interface: `decode(log_probs (B, T, C), lengths (B,)) -> list[str]`."""

    def __init__(self, text_encoder: CTCCharTextEncoder) -> None:
        self.text_encoder = text_encoder

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        best_paths = log_probs.argmax(dim=-1).cpu()
        return [
            self.text_encoder.ctc_decode(path[: int(length)].tolist())
            for path, length in zip(best_paths, lengths.cpu(), strict=True)
        ]
