from src.loss.ctc_loss import CTCLossWrapper

__all__ = ["CTCLossWrapper"]
