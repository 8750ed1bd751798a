"""CTC loss that stays in fp32 under mixed precision."""

import torch
from torch import nn


class CTCLossWrapper(nn.Module):
    """Log-softmax and CTC in fp32 (autocast disabled); infinite losses are zeroed."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = True):
        super().__init__()
        self.ctc = nn.CTCLoss(blank=blank, reduction=reduction, zero_infinity=zero_infinity)

    def forward(
        self,
        logits: torch.Tensor,
        log_probs_length: torch.Tensor,
        text_encoded: torch.Tensor,
        text_encoded_length: torch.Tensor,
        **batch,
    ) -> dict[str, torch.Tensor]:
        with torch.autocast(device_type=logits.device.type, enabled=False):
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            loss = self.ctc(
                log_probs.transpose(0, 1), text_encoded, log_probs_length, text_encoded_length
            )
        return {"loss": loss}
