import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from src.datasets import (
    BaseDataset,
    CustomDirDataset,
    ManifestDataset,
    collate_fn,
)
from src.text_encoder import CTCCharTextEncoder
from src.utils.audio import AudioReadError, load_audio
from tests import hostile
from tests.conftest import write_tone

ENCODER = CTCCharTextEncoder()


@pytest.fixture
def audio_dir(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    write_tone(folder / "a.wav", 0.5)
    write_tone(folder / "b.flac", 0.25, sample_rate=8000)
    write_tone(folder / "c.ogg", 0.3, sample_rate=22050)
    write_tone(folder / "d.mp3", 0.4, sample_rate=16000)
    (folder / "notes.md").write_text("not audio")
    return folder


def test_custom_dir_reads_every_format_at_16k(audio_dir):
    dataset = CustomDirDataset(audio_dir, text_encoder=ENCODER)
    assert [dataset[i]["id"] for i in range(len(dataset))] == ["a", "b", "c", "d"]
    assert not dataset.has_transcriptions
    lengths = [dataset[i]["audio_length"] for i in range(4)]
    assert lengths[:3] == [8000, 4000, 4800]
    assert abs(lengths[3] - 6400) < 1200  # mp3 frames pad a little
    assert dataset[0]["text"] == "" and dataset[0]["text_encoded"].numel() == 0


def test_custom_dir_with_transcriptions(audio_dir, tmp_path):
    transcriptions = tmp_path / "text"
    transcriptions.mkdir()
    for stem in "abcd":
        (transcriptions / f"{stem}.txt").write_text(f"Utterance {stem.upper()}!\n")
    dataset = CustomDirDataset(audio_dir, transcriptions, text_encoder=ENCODER)
    assert dataset.has_transcriptions
    assert dataset[1]["text"] == "utterance b"
    (transcriptions / "c.txt").unlink()
    with pytest.raises(FileNotFoundError, match="utterance c"):
        CustomDirDataset(audio_dir, transcriptions, text_encoder=ENCODER)


def test_custom_dir_errors_name_the_problem(tmp_path, audio_dir):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CustomDirDataset(tmp_path / "nowhere", text_encoder=ENCODER)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        CustomDirDataset(empty, text_encoder=ENCODER)
    write_tone(audio_dir / "a.flac", 0.1)
    with pytest.raises(ValueError, match="'a'"):
        CustomDirDataset(audio_dir, text_encoder=ENCODER)


def test_unreadable_audio_names_the_file(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioReadError, match="broken.wav"):
        load_audio(broken)


def test_m4a_without_ffmpeg_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(AudioReadError, match="needs FFmpeg"):
        load_audio(tmp_path / "clip.m4a")


def test_manifest_dataset_and_its_errors(tmp_path):
    write_tone(tmp_path / "x.wav", 0.2)
    write_tone(tmp_path / "y.wav", 1.0)
    lines = [
        {"path": "x.wav", "duration": 0.2, "text": "Short ONE"},
        {"path": "y.wav", "duration": 1.0, "text": "long one", "id": "why"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    dataset = ManifestDataset(manifest, text_encoder=ENCODER)
    assert [dataset[0]["id"], dataset[1]["id"]] == ["x", "why"]
    assert dataset[0]["text"] == "short one"
    assert len(ManifestDataset(manifest, text_encoder=ENCODER, max_duration=0.5)) == 1
    manifest.write_text(manifest.read_text() + '{"path": "z.wav"}\n')
    with pytest.raises(ValueError, match="m.jsonl:3"):
        ManifestDataset(manifest, text_encoder=ENCODER)


def test_collate_pads_audio_and_text(audio_dir, tmp_path):
    transcriptions = tmp_path / "text"
    transcriptions.mkdir()
    for stem, text in zip("abcd", ["ab", "a", "abc", ""], strict=True):
        (transcriptions / f"{stem}.txt").write_text(text)
    dataset = CustomDirDataset(audio_dir, transcriptions, text_encoder=ENCODER)
    batch = collate_fn([dataset[0], dataset[1], dataset[2]])
    assert batch["audio"].shape == (3, 8000)
    assert batch["audio_length"].tolist() == [8000, 4000, 4800]
    assert batch["audio"][1, 4000:].abs().max() == 0
    assert batch["text_encoded"].tolist() == [[1, 2, 0], [1, 0, 0], [1, 2, 3]]
    assert batch["text_encoded_length"].tolist() == [2, 1, 3]
    assert batch["text"] == ["ab", "a", "abc"] and batch["id"] == ["a", "b", "c"]


@pytest.mark.parametrize("corpus", ["an4", "fsdd", "ljspeech_samples", "LibriSpeech"])
def test_shared_real_speech_loads_through_the_manifest_dataset(shared_data, corpus):
    dataset = ManifestDataset(
        shared_data / corpus / "manifest.jsonl", text_encoder=ENCODER, limit=3
    )
    for position in range(len(dataset)):
        item = dataset[position]
        entry = dataset._index[position]
        assert item["audio"].dtype == torch.float32
        assert abs(item["audio_length"] / 16000 - entry["duration"]) < 0.01
        assert item["text"] and item["text"] == ENCODER.normalize(entry["text"])


def test_a_missing_transcript_is_an_error_naming_the_utterance(tmp_path):
    write_tone(tmp_path / "x.wav", 0.2)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "x.wav", "duration": 0.2, "text": None}) + "\n")
    with pytest.raises(ValueError, match="utterance x .*has no transcript"):
        ManifestDataset(manifest, text_encoder=ENCODER)


@pytest.fixture
def bad_audio(tmp_path):
    """Index entries: a readable tone, a corrupt file, an empty (0-sample) file, a missing one."""
    write_tone(tmp_path / "good.wav", 0.2)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wave file")
    write_tone(tmp_path / "empty.wav", 0.0)
    return [
        {"id": name, "path": str(tmp_path / f"{name}.{ext}"), "text": "a b", "duration": 0.2}
        for name, ext in [("good", "wav"), ("corrupt", "wav"), ("empty", "wav"), ("gone", "wav")]
    ]


def test_bad_audio_is_an_error_naming_the_file_unless_skipped(bad_audio):
    strict = BaseDataset(bad_audio, ENCODER)
    assert strict[0]["audio_length"] == 3200
    for position, name in [(1, "corrupt.wav"), (2, "empty.wav: empty audio"), (3, "gone.wav")]:
        with pytest.raises(AudioReadError, match=name):
            strict[position]
    lenient = BaseDataset(bad_audio, ENCODER, skip_bad_audio=True)
    items = [lenient[position] for position in range(4)]
    assert "skipped" not in items[0]
    assert [item["id"] for item in items if "skipped" in item] == ["corrupt", "empty", "gone"]
    assert "empty audio" in items[2]["skipped"] and "corrupt.wav" in items[1]["skipped"]

    batch = collate_fn(items)
    assert batch["id"] == ["good"] and batch["audio"].shape == (1, 3200)
    assert [skip["id"] for skip in batch["skipped"]] == ["corrupt", "empty", "gone"]
    assert batch["skipped"][1]["audio_path"].endswith("empty.wav")
    empty_batch = collate_fn(items[1:])
    assert empty_batch["id"] == [] and len(empty_batch["skipped"]) == 3


def test_durations_missing_from_the_index_are_read_or_the_file_skipped(bad_audio, caplog):
    index = [{**entry, "duration": None} for entry in bad_audio]
    with pytest.raises(AudioReadError, match="corrupt.wav"):
        BaseDataset(index, ENCODER)
    dataset = BaseDataset(index, ENCODER, skip_bad_audio=True)
    assert dataset.durations() == [0.2, 0.0]  # good, empty (skipped when read)
    assert dataset.dropped == {"with unreadable audio": 2}
    assert "corrupt.wav" in caplog.text and "gone.wav" in caplog.text


def test_characters_outside_the_vocabulary_are_dropped_and_reported_once(tmp_path, caplog):
    texts = ["Hello, world!", "Room 101, please.", "Caf\u00e9 \u00e0 la carte!"]
    index = [
        {"id": str(i), "path": "unused.wav", "text": text, "duration": 1.0}
        for i, text in enumerate(texts)
    ]
    with caplog.at_level(logging.WARNING):
        dataset = BaseDataset(index, CTCCharTextEncoder())
    assert [entry["text"] for entry in dataset._index] == [
        "hello world",
        "room please",
        "cafe a la carte",
    ]
    reported = [record.getMessage() for record in caplog.records]
    assert len(reported) == 5  # ',', '!', '1', '0', '.': accents fold silently
    for char in ",!10.":
        assert sum(f"dropping {char!r}" in message for message in reported) == 1


@pytest.mark.parametrize("corpus", hostile.NON_UTF8_TRANSCRIPTS)
def test_a_transcript_that_is_not_utf8_is_an_error_naming_the_file_and_line(tmp_path, corpus):
    load, location = hostile.NON_UTF8_TRANSCRIPTS[corpus](tmp_path, ENCODER)
    with pytest.raises(ValueError, match=location + r": not UTF-8 text \(byte 0x"):
        load()


def test_nan_audio_is_skipped_in_training_and_an_error_otherwise(tmp_path):
    samples = np.zeros(3200, dtype=np.float32)
    samples[5] = np.nan
    sf.write(tmp_path / "nan.wav", samples, 16000, subtype="FLOAT")
    index = [{"id": "nan", "path": str(tmp_path / "nan.wav"), "text": "a", "duration": 0.2}]
    with pytest.raises(AudioReadError, match=r"nan\.wav: samples are not finite"):
        BaseDataset(index, ENCODER)[0]
    item = BaseDataset(index, ENCODER, skip_bad_audio=True)[0]
    assert "not finite" in item["skipped"]
    assert collate_fn([item])["skipped"][0]["id"] == "nan"
