"""Transcripts of long real recordings in bounded windows, and of live streams."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from src.decoding import ArgmaxDecoder
from src.decoding.segments import BlankSegmenter
from src.trainer.restore import load_trained_model
from src.transcription import Transcriber
from src.transcription.streaming import StreamingTranscriber
from src.utils.audio import load_audio
from tests.tiny_model import TINY_MODEL, save_tiny_checkpoint


@pytest.fixture(scope="module")
def utterances() -> list[torch.Tensor]:
    """70 real AN4 utterances, about 3.4 minutes."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "an4"
    if not (root / "manifest.jsonl").is_file():
        pytest.skip(f"real speech data not found at {root} (present in CI)")
    lines = (root / "manifest.jsonl").read_text().splitlines()[:70]
    return [load_audio(root / json.loads(line)["path"]) for line in lines]


def tiny(tmp_path: Path, *overrides: str):
    return load_trained_model(
        save_tiny_checkpoint(tmp_path / "tiny.pth", [*TINY_MODEL, *overrides])
    )


def whole_pass(transcriber, audio: torch.Tensor) -> np.ndarray:
    batch = {"audio": audio[None], "audio_length": torch.tensor([len(audio)])}
    with torch.no_grad():
        return transcriber.log_probs.pipeline.forward(batch)["log_probs"][0].numpy()


def test_long_audio_runs_in_bounded_windows_and_keeps_every_frame(tmp_path, utterances):
    trained = tiny(tmp_path, "transforms.features.normalize=none")
    decoder = ArgmaxDecoder(trained.text_encoder)
    transcriber = Transcriber(trained, decoder, chunk_seconds=20.0, context_seconds=2.0)
    seen = []
    forward = transcriber.log_probs.pipeline.forward
    transcriber.log_probs.pipeline.forward = lambda batch: (
        seen.append(len(batch["audio"][0])) or forward(batch)
    )
    recording = torch.cat(utterances)
    transcript = transcriber.transcribe_blocks(recording.split(16000))
    duration = len(recording) / 16000
    assert transcript.duration == pytest.approx(duration)
    windows = transcriber.log_probs
    assert max(seen) <= windows.chunk + 2 * windows.context  # bounded: at most about 24 s
    assert len(seen) > duration / 20  # cut at pauses, or at most every 20 s
    frames = np.concatenate([w.log_probs for w in windows(recording.split(16000))])
    assert len(frames) == len(whole_pass(transcriber, recording))
    assert len(transcript.text) > 100  # an untrained model spells something
    starts = [word.start for word in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1].end <= duration
    assert " ".join(word.word for word in transcript.words) == transcript.text
    assert all(0 <= word.confidence <= 1 for word in transcript.words)


def test_streaming_gives_the_whole_passes_frames_and_growing_partials(tmp_path, utterances):
    trained = tiny(tmp_path, "model.bidirectional=false", "transforms.features.normalize=running")
    audio = torch.cat(utterances)[: 16000 * 20]
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
