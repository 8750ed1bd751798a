"""Chunked inference: overlapping windows merged at frame level into the whole sequence."""

import numpy as np
import pytest
import torch

from src.model import BaselineModel, DeepSpeech2
from src.trainer.pipeline import BatchPipeline
from src.transcription import ChunkedLogProbs, frame_stride
from src.transforms import LogMelSpectrogram


def pipeline(model, normalize="none") -> BatchPipeline:
    features = LogMelSpectrogram(n_mels=32, normalize=normalize)
    return BatchPipeline(model.eval(), features, torch.device("cpu"))


def whole(pipe: BatchPipeline, audio: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        batch = pipe.forward({"audio": audio[None], "audio_length": torch.tensor([len(audio)])})
    return batch["log_probs"][0, : int(batch["log_probs_length"][0])].numpy()


def tiny_ds2(strides=((2, 3), (2, 1))) -> DeepSpeech2:
    torch.manual_seed(0)
    return DeepSpeech2(32, 29, [4, 4], [[11, 11], [11, 5]], strides, "lstm", 1, 16)


def test_the_frame_stride_comes_from_the_model_and_the_hop():
    features = LogMelSpectrogram(hop_length=160)
    assert frame_stride(tiny_ds2(), features) == 480
    assert frame_stride(tiny_ds2(((2, 2), (1, 2))), features) == 640
    assert frame_stride(BaselineModel(80, 29), features) == 160


@pytest.mark.parametrize("samples", [100, 16000 * 3 + 77, 16000 * 9])
@pytest.mark.parametrize("block", [1000, 16000 * 4])
def test_a_per_frame_model_gives_exactly_the_whole_passes_frames(samples, block):
    torch.manual_seed(0)
    pipe = pipeline(BaselineModel(32, 29, hidden=16))
    audio = torch.randn(samples)
    chunked = ChunkedLogProbs(pipe, chunk_seconds=1.0, context_seconds=0.1, min_chunk_seconds=0.5)
    frames = np.concatenate([window.log_probs for window in chunked(audio.split(block))])
    np.testing.assert_allclose(frames, whole(pipe, audio), atol=1e-5)


def test_deepspeech2_windows_give_the_whole_passes_frame_count_and_ends():
    pipe = pipeline(tiny_ds2())
    audio = torch.randn(16000 * 7 + 321)
    chunked = ChunkedLogProbs(pipe, chunk_seconds=2.0, context_seconds=1.0, min_chunk_seconds=1.0)
    windows = [window.log_probs for window in chunked(audio.split(5000))]
    frames, reference = np.concatenate(windows), whole(pipe, audio)
    assert frames.shape == reference.shape and len(windows) >= 4  # forced cuts: <= 2 s
    # the first window's start and the last window's end see what the whole pass sees
    np.testing.assert_allclose(frames[:20], reference[:20], atol=0.05)
    np.testing.assert_allclose(frames[-20:], reference[-20:], atol=0.05)


def bursts_and_pauses() -> tuple[torch.Tensor, list[int]]:
    """Bursts of noise (1.2-3 s) each followed by 0.3 s of silence; the silences' middles."""
    rng = np.random.default_rng(0)
    pieces, pauses = [], []
    for _ in range(6):
        pieces.append(torch.from_numpy(rng.normal(size=int(16000 * rng.uniform(1.2, 3.0)))))
        pauses.append(sum(len(piece) for piece in pieces) + 2400)
        pieces.append(torch.zeros(4800, dtype=torch.float64))
    return torch.cat(pieces).float(), pauses


def test_windows_end_in_the_middle_of_pauses_and_still_tile_the_frames():
    torch.manual_seed(0)
    pipe = pipeline(BaselineModel(32, 29, hidden=16))
    audio, pauses = bursts_and_pauses()
    chunked = ChunkedLogProbs(pipe, chunk_seconds=10.0, pause_seconds=0.15, min_chunk_seconds=1.0)
    windows = list(chunked(audio.split(7000)))
    assert [window.at_pause for window in windows] == [True] * 5 + [False]
    ends = np.cumsum([len(window.log_probs) for window in windows[:-1]]) * chunked.stride
    assert np.all(np.abs(ends - np.array(pauses[:5])) <= chunked.stride)
    frames = np.concatenate([window.log_probs for window in windows])
    np.testing.assert_allclose(frames, whole(pipe, audio), atol=1e-5)  # a per-frame model


def test_a_window_passes_the_pauses_until_it_is_min_chunk_seconds_long():
    pipe = pipeline(BaselineModel(32, 29, hidden=16))
    audio, pauses = bursts_and_pauses()
    chunked = ChunkedLogProbs(pipe, chunk_seconds=10.0, pause_seconds=0.15, min_chunk_seconds=4.0)
    windows = list(chunked(audio.split(7000)))
    expected, start = [], 0
    for pause in pauses[:-1]:
        if pause - start >= 4 * 16000:
            expected.append(pause)
            start = pause
    ends = np.cumsum([len(window.log_probs) for window in windows[:-1]]) * chunked.stride
    assert len(expected) >= 2 and len(ends) == len(expected)
    assert np.all(np.abs(ends - np.array(expected)) <= chunked.stride)


def test_no_audio_gives_no_frames():
    assert list(ChunkedLogProbs(pipeline(tiny_ds2()))([])) == []
