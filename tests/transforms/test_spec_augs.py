"""SpecAugment: whole-row frequency masks and whole-column time masks, per utterance."""

import torch

from src.transforms import SpecAugment


def masked_rows_and_columns(spectrogram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per utterance: bins zeroed at every frame, frames zeroed at every bin."""
    zero = spectrogram == 0
    return zero.all(dim=2), zero.all(dim=1)


def test_masks_are_bands_of_bounded_width_drawn_per_utterance():
    torch.manual_seed(0)
    augment = SpecAugment(freq_mask_param=10, time_mask_param=20, n_freq_masks=2, n_time_masks=2)
    batch = torch.ones(16, 64, 300)
    output = augment(spectrogram=batch)["spectrogram"]
    assert output.shape == batch.shape
    rows, columns = masked_rows_and_columns(output)
    # every zero lies in a fully masked row or column: no scattered zeros
    assert torch.equal(output == 0, rows[:, :, None] | columns[:, None, :])
    assert (rows.sum(1) <= 2 * 10).all() and (columns.sum(1) <= 2 * 20).all()
    assert rows.sum() > 0 and columns.sum() > 0
    assert len({tuple(r.nonzero().flatten().tolist()) for r in rows}) > 8  # iid masks


def test_p_zero_keeps_the_batch():
    batch = torch.randn(2, 8, 50)
    assert SpecAugment(p=0.0)(spectrogram=batch)["spectrogram"] is batch


def test_every_draw_comes_from_torch_generators():
    """p and the masks: the same global seed, the same output (the trainer seeds it per step)."""
    augment = SpecAugment(p=0.5)
    batch = torch.randn(4, 32, 100)
    outputs = []
    for seed in (5, 5):
        torch.manual_seed(seed)
        outputs.append([augment(spectrogram=batch)["spectrogram"] for _ in range(8)])
    assert all(torch.equal(a, b) for a, b in zip(*outputs, strict=True))
    assert any(output is batch for output in outputs[0])  # p = 0.5 left some batches alone
