import pytest
import torch

from src.transforms import LogMelSpectrogram, LogSpectrogram


@pytest.mark.parametrize("features", [LogMelSpectrogram(), LogSpectrogram()])
def test_shapes_lengths_and_per_utterance_normalisation(features):
    audio = torch.zeros(2, 16000)
    audio[0] = torch.randn(16000)
    audio[1, :8000] = 0.01 * torch.randn(8000)
    output = features(audio=audio, audio_length=torch.tensor([16000, 8000]))
    spectrogram, lengths = output["spectrogram"], output["spectrogram_length"]
    assert spectrogram.shape[:2] == (2, features.n_feats)
    assert lengths.tolist() == [101, 51]
    assert spectrogram.shape[-1] == 101
    short = spectrogram[1, :, :51]
    # each feature of each utterance: zero mean and unit variance over its own frames
    torch.testing.assert_close(short.mean(-1), torch.zeros(features.n_feats), atol=1e-4, rtol=0)
    assert spectrogram[1, :, 51:].abs().max() == 0  # padding stays zero


def test_length_formula_matches_torchaudio_frames():
    features = LogMelSpectrogram(hop_length=160)
    for samples in [201, 1599, 1600, 16001]:
        output = features(audio=torch.randn(1, samples), audio_length=torch.tensor([samples]))
        assert output["spectrogram"].shape[-1] == int(output["spectrogram_length"][0])


def test_very_short_audio_is_padded_not_a_crash():
    output = LogMelSpectrogram()(audio=torch.randn(1, 100), audio_length=torch.tensor([100]))
    assert output["spectrogram_length"].tolist() == [1]
    assert output["spectrogram"][0, :, 1:].abs().max() == 0


def test_features_stay_fp32_under_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = LogMelSpectrogram()(audio=torch.randn(1, 4000), audio_length=torch.tensor([4000]))
    assert output["spectrogram"].dtype == torch.float32
