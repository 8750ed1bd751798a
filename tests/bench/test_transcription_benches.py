"""The transcription benches run end to end on tiny inputs (their figures need real runs)."""

import json
import subprocess
import sys

import pytest

from src.datasets.synthesis import ensure_corpus
from tests.conftest import REPO_ROOT
from tests.tiny_model import TINY_MODEL, save_tiny_checkpoint

pytestmark = pytest.mark.slow


def bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_corpus(root, seed=0, n_train=1, n_val=1, n_test=4, num_workers=1)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pth")


def test_timestamp_errors_per_decoder(corpus, checkpoint):
    output = bench("bench.timestamps", "--checkpoint", str(checkpoint), "--corpus", str(corpus))
    assert "test split" in output and "frame stride 30 ms" in output
    rows = [line.split()[0] for line in output.splitlines()[2:]]
    assert rows == ["reference", "argmax", "beam"]


def test_long_audio_memory_and_wer(corpus, checkpoint):
    output = bench(
        "bench.long_audio",
        "--checkpoint",
        str(checkpoint),
        "--manifest",
        str(corpus / "test.jsonl"),
        "--minutes",
        "0.3",
        "0.6",
    )
    rows = [line.split() for line in output.splitlines()[2:]]
    assert [row[0] for row in rows] == ["0.3", "0.6"] and all(row[2] == "MB" for row in rows)
    speaker = json.loads((corpus / "test.jsonl").read_text().splitlines()[0])["speaker"]
    output = bench(
        "bench.long_audio",
        *("--checkpoint", str(checkpoint), "--manifest", str(corpus / "test.jsonl")),
        *("--minutes", "0.2", "--speakers", str(speaker)),
        *("--transcribe", "pause_seconds=0.3", "min_chunk_seconds=3", "chunk_seconds=5"),
    )
    assert "1 utterances" in output.splitlines()[0]


def test_export_speed(checkpoint):
    output = bench("bench.export", "--checkpoint", str(checkpoint), "--repeats", "1")
    assert "1 x 1000" in output and "8 x 1000" in output


def test_streaming_latency(tmp_path):
    streaming = save_tiny_checkpoint(
        tmp_path / "uni.pth",
        [*TINY_MODEL, "model.bidirectional=false", "transforms.features.normalize=running"],
    )
    output = bench("bench.streaming", "--checkpoint", str(streaming), "--chunks", "0.2")
    assert "look-ahead" in output and len(output.splitlines()) == 3
