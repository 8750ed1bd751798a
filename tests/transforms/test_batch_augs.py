"""Batch-level waveform augmentations on the batch's device: what they change and what not."""

import pytest
import torch
import torchaudio

from src.transforms import BatchAdditiveNoise, BatchSpeedPerturbation
from src.utils.runtime import seeded

CPU = torch.device("cpu")


def batch_of_tones(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    time = torch.arange(max(lengths)) / 16000
    audio = torch.stack(
        [0.3 * torch.sin(2 * torch.pi * (200 + 50 * i) * time) for i in range(len(lengths))]
    )
    length = torch.tensor(lengths)
    return audio * (torch.arange(audio.shape[1]) < length[:, None]), length


def test_speed_perturbation_resamples_each_utterance_like_torchaudio():
    audio, lengths = batch_of_tones([16000, 9000, 12000])
    out = BatchSpeedPerturbation(factors=[1.1])(audio=audio, audio_length=lengths)
    assert out["audio_length"].tolist() == [n * 16000 // 17600 for n in lengths.tolist()]
    for index, length in enumerate(out["audio_length"].tolist()):
        alone = torchaudio.functional.resample(audio[index : index + 1], 17600, 16000)[0]
        torch.testing.assert_close(out["audio"][index, :length], alone[:length])
        assert (out["audio"][index, length:] == 0).all()  # padding stays silent
    assert BatchSpeedPerturbation(factors=[0.9, 1.1]).min_length_ratio == 16000 / 17600


def test_speed_perturbation_draws_per_utterance_and_only_from_the_seeded_generator():
    audio, lengths = batch_of_tones([16000] * 8)
    augment = BatchSpeedPerturbation(factors=[0.9, 1.0, 1.1])
    with seeded(3, CPU):
        first = augment(audio=audio, audio_length=lengths)
    with seeded(3, CPU):
        again = augment(audio=audio, audio_length=lengths)
    assert torch.equal(first["audio"], again["audio"])
    assert len(set(first["audio_length"].tolist())) > 1  # the utterances drew different factors
    kept = BatchSpeedPerturbation(factors=[0.9, 1.1], p=0.0)(audio=audio, audio_length=lengths)
    assert kept["audio"] is audio and kept["audio_length"] is lengths


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    noise = noisy - clean
    return float(10 * torch.log10(clean.square().sum() / noise.square().sum()))


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_lands_at_the_drawn_snr_on_valid_samples_only(color):
    audio, lengths = batch_of_tones([16000, 8000])
    augment = BatchAdditiveNoise(min_snr_db=12.0, max_snr_db=12.0, colors=[color], p=1.0)
    out = augment(audio=audio, audio_length=lengths)
    assert torch.equal(out["audio_length"], lengths)
    for index, length in enumerate(lengths.tolist()):
        assert snr_db(audio[index, :length], out["audio"][index, :length]) == pytest.approx(
            12.0, abs=0.01
        )
        assert (out["audio"][index, length:] == 0).all()


def test_noise_with_p_zero_changes_nothing():
    audio, lengths = batch_of_tones([16000, 8000])
    out = BatchAdditiveNoise(p=0.0)(audio=audio, audio_length=lengths)
    torch.testing.assert_close(out["audio"], audio)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="factors"):
        BatchSpeedPerturbation(factors=[0.0, 1.0])
    with pytest.raises(ValueError, match="colors"):
        BatchAdditiveNoise(colors=["purple"])
