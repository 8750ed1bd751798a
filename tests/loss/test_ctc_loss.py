import torch

from src.loss import CTCLossWrapper
from src.model.base import ctc_log_probs


def _batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 20, 6, generator=generator)
    targets = torch.randint(1, 6, (3, 7), generator=generator)
    return logits, {
        "log_probs_length": torch.tensor([20, 15, 9]),
        "text_encoded": targets,
        "text_encoded_length": torch.tensor([7, 4, 2]),
    }


def test_matches_torch_ctc_loss():
    logits, batch = _batch()
    log_probs = torch.log_softmax(logits, -1)
    expected = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1),
        batch["text_encoded"],
        batch["log_probs_length"],
        batch["text_encoded_length"],
        zero_infinity=True,
    )
    torch.testing.assert_close(CTCLossWrapper()(log_probs=log_probs, **batch)["loss"], expected)


def test_bf16_logits_give_an_fp32_loss_close_to_fp32():
    logits, batch = _batch()
    reference = CTCLossWrapper()(log_probs=ctc_log_probs(logits), **batch)["loss"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        log_probs = ctc_log_probs(logits.bfloat16())
        loss = CTCLossWrapper()(log_probs=log_probs, **batch)["loss"]
    assert log_probs.dtype == loss.dtype == torch.float32
    assert not torch.equal(loss, reference)  # the bf16 logits did lose precision
    torch.testing.assert_close(loss, reference, atol=0.05, rtol=0.01)


def test_impossible_alignment_is_zeroed_not_infinite():
    logits, batch = _batch()
    batch["log_probs_length"] = torch.tensor([20, 15, 1])  # 2 labels cannot fit 1 frame
    logits.requires_grad_()
    loss = CTCLossWrapper()(log_probs=ctc_log_probs(logits), **batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[2].abs().sum() == 0  # the impossible utterance contributes nothing
