"""CTC loss that stays in fp32 under mixed precision."""

import torch
from torch import nn


class CTCLossWrapper(nn.Module):
    """CTC over the model's fp32 `log_probs` (B, T, C) with autocast disabled; infinite losses
    (labels that cannot fit their frames) are zeroed."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = True):
        super().__init__()
        self.ctc = nn.CTCLoss(blank=blank, reduction=reduction, zero_infinity=zero_infinity)

    def forward(
        self,
        log_probs: torch.Tensor,
        log_probs_length: torch.Tensor,
        text_encoded: torch.Tensor,
        text_encoded_length: torch.Tensor,
        **batch,
    ) -> dict[str, torch.Tensor]:
        with torch.autocast(device_type=log_probs.device.type, enabled=False):
            loss = self.ctc(
                log_probs.float().transpose(0, 1),
                text_encoded,
                log_probs_length,
                text_encoded_length,
            )
        return {"loss": loss}
