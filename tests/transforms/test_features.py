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


def test_running_normalisation_is_causal_and_per_utterance_padding_stays_zero():
    features = LogMelSpectrogram(normalize="running")
    audio = torch.randn(2, 16000)
    audio[1] = audio[0]
    whole = features(audio=audio, audio_length=torch.tensor([16000, 8000]))["spectrogram"]
    # frame t depends only on frames <= t: the first half alone gives the same frames
    half = features(audio=audio[:1, :8000], audio_length=torch.tensor([8000]))["spectrogram"]
    torch.testing.assert_close(whole[0, :, :40], half[0, :, :40], atol=1e-5, rtol=0)
    # a padded utterance is normalised over its own frames only, and its padding stays zero
    torch.testing.assert_close(whole[1, :, :40], half[0, :, :40], atol=1e-5, rtol=0)
    assert whole[1, :, 51:].abs().max() == 0
    # the last frame is normalised by the statistics of all frames up to it
    log = torch.log(features.transform(audio[:1]).clamp_min(1e-9))[0]
    mean, std = log.double().mean(-1), log.double().std(-1, unbiased=False)
    expected = ((log[:, -1].double() - mean) / (std**2 + 1e-5).sqrt()).float()
    torch.testing.assert_close(whole[0, :, 100], expected, atol=1e-4, rtol=0)


def test_normalize_false_keeps_log_values_and_unknown_modes_are_refused():
    audio = torch.randn(1, 4000)
    plain = LogMelSpectrogram(normalize=False)(audio=audio, audio_length=torch.tensor([4000]))
    none = LogMelSpectrogram(normalize="none")(audio=audio, audio_length=torch.tensor([4000]))
    torch.testing.assert_close(plain["spectrogram"], none["spectrogram"])
    assert LogMelSpectrogram(normalize=True).normalize == "utterance"
    with pytest.raises(ValueError, match="normalize must be"):
        LogMelSpectrogram(normalize="global")
