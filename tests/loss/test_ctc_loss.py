import torch

from src.loss import CTCLossWrapper


def _batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 20, 6, generator=generator)
    targets = torch.randint(1, 6, (3, 7), generator=generator)
    return {
        "logits": logits,
        "log_probs_length": torch.tensor([20, 15, 9]),
        "text_encoded": targets,
        "text_encoded_length": torch.tensor([7, 4, 2]),
    }


def test_matches_torch_ctc_loss():
    batch = _batch()
    expected = torch.nn.functional.ctc_loss(
        torch.log_softmax(batch["logits"], -1).transpose(0, 1),
        batch["text_encoded"],
        batch["log_probs_length"],
        batch["text_encoded_length"],
        zero_infinity=True,
    )
    torch.testing.assert_close(CTCLossWrapper()(**batch)["loss"], expected)


def test_fp32_under_bf16_autocast_and_close_to_fp32():
    batch = _batch()
    reference = CTCLossWrapper()(**batch)["loss"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = CTCLossWrapper()(**{**batch, "logits": batch["logits"].bfloat16()})["loss"]
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, reference, atol=0.05, rtol=0.01)


def test_impossible_alignment_is_zeroed_not_infinite():
    batch = _batch()
    batch["log_probs_length"] = torch.tensor([20, 15, 1])  # 2 labels cannot fit 1 frame
    logits = batch["logits"].requires_grad_()
    loss = CTCLossWrapper()(**batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
