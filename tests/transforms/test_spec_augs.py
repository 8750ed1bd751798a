"""SpecAugment: whole-row frequency masks and whole-column time masks, per utterance.
Vocal tract length perturbation: a per-utterance frequency warp of log-mel features."""

import pytest
import torch

from src.transforms import LogMelSpectrogram, SpecAugment, VocalTractLengthPerturbation
from src.transforms.spec_augs import hz_to_mel


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


# both batch augmentations: p, and every draw from the generators the trainer seeds per step
BATCH_AUGMENTATIONS = {
    "SpecAugment": lambda p: SpecAugment(p=p),
    "VocalTractLengthPerturbation": lambda p: VocalTractLengthPerturbation(n_mels=32, p=p),
}


@pytest.mark.parametrize("name", BATCH_AUGMENTATIONS)
def test_p_zero_keeps_the_batch(name):
    batch = torch.randn(2, 32, 50)
    assert BATCH_AUGMENTATIONS[name](0.0)(spectrogram=batch)["spectrogram"] is batch


@pytest.mark.parametrize("name", BATCH_AUGMENTATIONS)
def test_every_draw_comes_from_torch_generators(name):
    """p and the draws: the same global seed, the same output (the trainer seeds it per step)."""
    augment = BATCH_AUGMENTATIONS[name](0.5)
    batch = torch.randn(4, 32, 100)
    outputs = []
    for seed in (5, 5):
        torch.manual_seed(seed)
        outputs.append([augment(spectrogram=batch)["spectrogram"] for _ in range(8)])
    assert all(torch.equal(a, b) for a, b in zip(*outputs, strict=True))
    assert any(output is batch for output in outputs[0])  # p = 0.5 left some batches alone
    assert any(output is not batch for output in outputs[0])


def tone(hz: float, n_mels: int = 64) -> torch.Tensor:
    """The log-mel (not normalised) of half a second of a pure tone: (1, n_mels, T)."""
    time = torch.arange(8000) / 16000
    audio = torch.sin(2 * torch.pi * hz * time).unsqueeze(0)
    features = LogMelSpectrogram(n_mels=n_mels, normalize=False)
    return features(audio, torch.tensor([audio.shape[1]]))["spectrogram"]


def peak_bin(spectrogram: torch.Tensor) -> float:
    """Where a tone's energy peaks, as a fractional bin: the centroid of the 5 bins around the
    loudest one, frames averaged."""
    energy = spectrogram[0].mean(-1).exp()
    top = int(energy.argmax())
    bins = torch.arange(top - 2, top + 3)
    return float((energy[bins] * bins).sum() / energy[bins].sum())


@pytest.mark.parametrize("factor", [0.9, 1.1])
@pytest.mark.parametrize("hz", [500.0, 1000.0, 3000.0])
def test_a_warped_tone_peaks_where_the_scaled_tone_does(factor, hz):
    """Against the real feature extractor: a 1 kHz tone warped by 0.9 peaks where a 900 Hz
    tone does (within a tenth of a bin), more than a bin away from where it was."""
    augment = VocalTractLengthPerturbation(n_mels=64, min_factor=factor, max_factor=factor)
    warped = peak_bin(augment(spectrogram=tone(hz))["spectrogram"])
    assert warped == pytest.approx(peak_bin(tone(hz * factor)), abs=0.1)
    assert abs(warped - peak_bin(tone(hz))) > 1.0


def test_factor_one_is_the_identity():
    batch = torch.randn(3, 64, 40)
    augment = VocalTractLengthPerturbation(n_mels=64, min_factor=1.0, max_factor=1.0)
    torch.testing.assert_close(augment(spectrogram=batch)["spectrogram"], batch)


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.0, 1.1, 1.2])
def test_the_warp_is_monotone_continuous_and_keeps_the_band(factor):
    """Bin 0 reads near 0 Hz, the top bin near the top (within the band, never past it); the
    mapping rises everywhere, also across the knee, and is the factor's below it."""
    augment = VocalTractLengthPerturbation(n_mels=64, min_factor=factor, max_factor=factor)
    bins = augment.source_bins(torch.tensor([factor]))[0]
    assert (bins.diff() >= 0).all() and (bins[:-2].diff() > 0).all()  # the top may clamp
    assert 0 <= bins[0] < 1.5 and 62 <= bins[-1] <= 63
    knee = augment.boundary * augment.top * min(factor, 1.0)
    below = augment.centres <= knee
    expected = hz_to_mel(augment.centres[below] / factor) / augment.mel_step - 1.0
    torch.testing.assert_close(bins[below], expected.clamp(0, 63))
    step = bins.diff()
    assert (step[1:] < 2.5 * step[:-1] + 0.05).all()  # no jump at the knee


def test_each_utterance_gets_its_own_factor_and_padding_stays_zero():
    torch.manual_seed(0)
    single = torch.randn(1, 64, 50)
    batch = torch.cat([single] * 6).clone()
    batch[:, :, 40:] = 0  # padding
    output = VocalTractLengthPerturbation(n_mels=64)(spectrogram=batch)["spectrogram"]
    assert output.shape == batch.shape and (output[:, :, 40:] == 0).all()
    assert len({tuple(row[:, 0].tolist()) for row in output}) == 6


def test_features_of_another_size_or_a_bad_range_are_errors():
    with pytest.raises(ValueError, match="built for 80 mel bins, the features have 64"):
        VocalTractLengthPerturbation(n_mels=80)(spectrogram=torch.randn(2, 64, 10))
    with pytest.raises(ValueError, match="min_factor <= max_factor"):
        VocalTractLengthPerturbation(min_factor=1.1, max_factor=0.9)
    with pytest.raises(ValueError, match="boundary"):
        VocalTractLengthPerturbation(boundary=1.0)
