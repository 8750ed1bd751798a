"""Streaming features: block by block, the frames of the whole signal."""

import pytest
import torch

from src.transforms import LogMelSpectrogram, LogSpectrogram
from src.transforms.streaming import StreamingFeatures


def stream(features, audio: torch.Tensor, block: int) -> torch.Tensor:
    streaming = StreamingFeatures(features)
    frames = [streaming.push(piece) for piece in audio.split(block)]
    return torch.cat([*frames, streaming.finish()], -1)


@pytest.mark.parametrize("normalize", ["running", "none"])
@pytest.mark.parametrize("block", [37, 160, 1000, 20000])
@pytest.mark.parametrize("make", [LogMelSpectrogram, LogSpectrogram])
def test_streamed_frames_equal_the_whole_signals(make, normalize, block):
    features = make(normalize=normalize)
    audio = torch.randn(8000 + 123)
    whole = features(audio=audio[None], audio_length=torch.tensor([len(audio)]))
    torch.testing.assert_close(
        stream(features, audio, block), whole["spectrogram"][0], atol=2e-5, rtol=0
    )


def test_a_stream_shorter_than_half_a_window_matches_too():
    features = LogMelSpectrogram(normalize="running")
    audio = torch.randn(150)
    whole = features(audio=audio[None], audio_length=torch.tensor([150]))
    valid = whole["spectrogram"][0, :, : int(whole["spectrogram_length"][0])]
    torch.testing.assert_close(stream(features, audio, 7), valid, atol=1e-5, rtol=0)


def test_per_utterance_normalisation_cannot_stream():
    with pytest.raises(ValueError, match="normalize=running"):
        StreamingFeatures(LogMelSpectrogram(normalize=True))
