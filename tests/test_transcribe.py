"""transcribe.py end to end: real recordings in several formats, rates and channel counts."""

import json
import subprocess
import sys

import pytest
import soundfile as sf
import torch
import torchaudio

from src.decoding import ArgmaxDecoder
from src.trainer.restore import load_trained_model
from src.transcription import Transcriber
from src.transcription.streaming import StreamingTranscriber
from src.utils.audio import load_audio
from tests.conftest import REPO_ROOT
from tests.tiny_model import TINY_MODEL, save_tiny_checkpoint

pytestmark = pytest.mark.slow


def transcribe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "transcribe.py", *args, "progress=false"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, request):
    """A folder of real speech: 44.1 kHz stereo wav, 8 kHz flac, mp3, and a broken file."""
    shared = REPO_ROOT.parent / "shared" / "data"
    if not (shared / "README.md").is_file():
        pytest.skip(f"real speech data not found at {shared} (present in CI)")
    folder = tmp_path_factory.mktemp("recordings")
    speech = load_audio(sorted((shared / "LibriSpeech").rglob("*.flac"))[0])
    stereo = torchaudio.functional.resample(speech, 16000, 44100)
    sf.write(folder / "talk.wav", torch.stack([stereo, 0.5 * stereo], 1).numpy(), 44100)
    (folder / "more").mkdir()
    digit = sorted((shared / "fsdd").rglob("*.flac"))[0]
    (folder / "more" / "digit.flac").write_bytes(digit.read_bytes())
    sf.write(folder / "more" / "short.mp3", speech[: 16000 * 3].numpy(), 16000)
    (folder / "broken.wav").write_text("not audio at all")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pth")


def test_a_folder_to_json_files_with_a_clear_error_for_the_broken_one(
    recordings, checkpoint, tmp_path
):
    result = transcribe(
        f"model={checkpoint}", f"audio={recordings}", "format=json", f"output_dir={tmp_path}"
    )
    assert result.returncode == 1
    assert "broken.wav" in result.stderr and "1 of 4 files could not be read" in result.stderr
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.json"))
    assert written == ["more/digit.json", "more/short.json", "talk.json"]
    trained = load_trained_model(checkpoint)
    transcriber = Transcriber(trained, ArgmaxDecoder(trained.text_encoder))
    for name in ("talk", "more/digit", "more/short"):
        record = json.loads((tmp_path / f"{name}.json").read_text())
        source = next(recordings.glob(f"{name}.*"))
        expected = transcriber.transcribe_file(source)
        assert record["text"] == expected.text and record["file"] == str(source)
        assert record["duration"] == pytest.approx(sf.info(source).duration, abs=0.05)
        assert [w["word"] for w in record["words"]] == record["text"].split()
        for word in record["words"]:
            assert 0 <= word["start"] < word["end"] <= record["duration"] + 1e-3
            assert 0 <= word["confidence"] <= 1


@pytest.mark.parametrize(("fmt", "head"), [("srt", "1\n00:00:"), ("vtt", "WEBVTT\n\n00:00:")])
def test_subtitles_to_stdout_with_the_beam_search(recordings, checkpoint, fmt, head):
    result = transcribe(
        f"model={checkpoint}", f"audio={recordings / 'talk.wav'}", f"format={fmt}", "decoder=beam"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(head) and " --> " in result.stdout


def test_streaming_prints_partials_and_the_final_text(recordings, tmp_path):
    checkpoint = save_tiny_checkpoint(
        tmp_path / "uni.pth",
        [*TINY_MODEL, "model.bidirectional=false", "transforms.features.normalize=running"],
    )
    path = recordings / "more" / "short.mp3"
    result = transcribe(f"model={checkpoint}", f"audio={path}", "streaming=true")
    assert result.returncode == 0, result.stderr[-2000:]
    trained = load_trained_model(checkpoint)
    stream = StreamingTranscriber(trained, ArgmaxDecoder(trained.text_encoder))
    for piece in load_audio(path).split(1600):
        stream.push(piece)
    assert result.stdout == stream.finish().text + "\n"
    partials = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(partials) > 1  # the text grows as the audio arrives ...
    for partial in partials:  # ... and the final text continues each partial one
        assert result.stdout.startswith(partial.split("] ", 1)[1])


def test_a_bidirectional_model_cannot_stream(recordings, checkpoint):
    result = transcribe(f"model={checkpoint}", f"audio={recordings}", "streaming=true")
    assert result.returncode != 0 and "unidirectional" in result.stderr
