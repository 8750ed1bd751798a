"""Transcripts of long real recordings in bounded windows, and of live streams."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from src.decoding import ArgmaxDecoder
from src.decoding.segments import BlankSegmenter
from src.metrics import char_edits, error_rate
from src.trainer.restore import load_trained_model
from src.transcription import Transcriber
from src.transcription.streaming import StreamingTranscriber
from src.utils.audio import load_audio
from tests.tiny_model import save_tiny_checkpoint


@pytest.fixture(scope="module")
def minutes_of_speech() -> torch.Tensor:
    """About 3.4 minutes of real AN4 utterances, one after the other."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "an4"
    if not (root / "manifest.jsonl").is_file():
        pytest.skip(f"real speech data not found at {root} (present in CI)")
    lines = (root / "manifest.jsonl").read_text().splitlines()[:70]
    return torch.cat([load_audio(root / json.loads(line)["path"]) for line in lines])


def tiny(tmp_path: Path, *overrides: str):
    return load_trained_model(save_tiny_checkpoint(tmp_path / "tiny.pth", overrides))


def whole_pass(transcriber, audio: torch.Tensor) -> np.ndarray:
    batch = {"audio": audio[None], "audio_length": torch.tensor([len(audio)])}
    with torch.no_grad():
        return transcriber.log_probs.pipeline.forward(batch)["log_probs"][0].numpy()


def test_long_audio_runs_in_windows_and_matches_the_whole_pass(tmp_path, minutes_of_speech):
    trained = tiny(tmp_path, "transforms.features.normalize=none")
    decoder = ArgmaxDecoder(trained.text_encoder)
    transcriber = Transcriber(trained, decoder, chunk_seconds=20.0, context_seconds=2.0)
    seen = []
    forward = transcriber.log_probs.pipeline.forward
    transcriber.log_probs.pipeline.forward = lambda batch: (
        seen.append(len(batch["audio"][0])) or forward(batch)
    )
    transcript = transcriber.transcribe_blocks(minutes_of_speech.split(16000))
    duration = len(minutes_of_speech) / 16000
    assert transcript.duration == pytest.approx(duration)
    windows = transcriber.log_probs
    assert max(seen) <= windows.chunk + 2 * windows.context  # bounded: about 24 s
    assert len(seen) == len(minutes_of_speech) // windows.chunk + 1
    expected = decoder.decode_utterances([whole_pass(transcriber, minutes_of_speech)])[0].text
    assert len(expected) > 100  # an untrained model spells something
    assert error_rate(char_edits(expected, transcript.text)) < 0.02
    starts = [word.start for word in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1].end <= duration
    assert " ".join(word.word for word in transcript.words) == transcript.text
    assert all(0 <= word.confidence <= 1 for word in transcript.words)


def test_streaming_gives_the_whole_passes_frames_and_growing_partials(tmp_path, minutes_of_speech):
    trained = tiny(tmp_path, "model.bidirectional=false", "transforms.features.normalize=running")
    audio = minutes_of_speech[: 16000 * 20]
    decoder = ArgmaxDecoder(trained.text_encoder)
    reference = whole_pass(Transcriber(trained, decoder, chunk_seconds=60.0), audio)
    stream = StreamingTranscriber(trained, decoder)
    partials = [stream.push(piece) for piece in audio.split(1600)]  # 100 ms chunks
    transcript = stream.finish()
    np.testing.assert_allclose(stream.log_probs(), reference, atol=1e-4)
    segments = BlankSegmenter().split([reference])
    texts = [decoder.decode_utterances([s.log_probs])[0].text for s in segments]
    assert transcript.text == " ".join(" ".join(texts).split())
    assert all(transcript.text.startswith(partial) for partial in partials)
    assert len(set(partials)) > 5
    assert 0.5 < stream.latency_seconds() < 1.0  # conv context + 20 frames of lookahead


def test_streaming_refuses_models_that_cannot_stream(tmp_path):
    with pytest.raises(ValueError, match="unidirectional"):
        StreamingTranscriber(tiny(tmp_path), ArgmaxDecoder(tiny(tmp_path).text_encoder))
    trained = tiny(tmp_path, "model.bidirectional=false")
    with pytest.raises(ValueError, match="normalize=running"):
        StreamingTranscriber(trained, ArgmaxDecoder(trained.text_encoder))
