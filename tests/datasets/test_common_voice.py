import json

import numpy as np
import pytest
import soundfile as sf

from src.datasets import CommonVoiceDataset
from src.text_encoder import CTCCharTextEncoder
from src.utils.audio import load_audio
from tests.conftest import write_tone

ENCODER = CTCCharTextEncoder()
HEADER = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\n"


def write_tsv(path, rows):
    lines = [f"c{i}\t{clip}\ts{i}\t{text}\t\t2\t0\t\n" for i, (clip, text) in enumerate(rows)]
    path.write_text(HEADER + "".join(lines))


@pytest.fixture
def real_corpus(shared_data, tmp_path):
    """A Common Voice language folder from real speech: three LibriSpeech utterances as 48 kHz
    mp3 clips, a train.tsv (one sentence opening with an unbalanced quote) and a
    clip_durations.tsv that lists only the first two clips."""
    librispeech = shared_data / "LibriSpeech"
    records = sorted(
        map(json.loads, (librispeech / "manifest.jsonl").read_text().splitlines()),
        key=lambda record: record["duration"],
    )[:3]
    (tmp_path / "clips").mkdir()
    rows = []
    for index, record in enumerate(records):
        clip = f"common_voice_en_{index}.mp3"
        sf.write(tmp_path / "clips" / clip, load_audio(librispeech / record["path"], 48000), 48000)
        rows.append((clip, record["text"].capitalize()))
    rows[1] = (rows[1][0], '"' + rows[1][1])
    write_tsv(tmp_path / "train.tsv", rows)
    # 3 ms off the header's duration, to tell which source was used.
    listed = [
        f"{clip}\t{round(1000 * record['duration']) + 3}\n"
        for (clip, _), record in zip(rows, records, strict=True)
    ]
    (tmp_path / "clip_durations.tsv").write_text("clip\tduration[ms]\n" + "".join(listed[:2]))
    return tmp_path, [librispeech / record["path"] for record in records], records


def test_real_speech_mp3_clips_load_at_16k_with_their_sentences(real_corpus):
    folder, sources, records = real_corpus
    dataset = CommonVoiceDataset(folder, split="train", text_encoder=ENCODER)
    assert [entry["id"] for entry in dataset._index] == [f"common_voice_en_{i}" for i in range(3)]
    assert [entry["speaker"] for entry in dataset._index] == ["c0", "c1", "c2"]
    durations = dataset.durations()
    assert durations[:2] == [round(record["duration"] + 0.003, 3) for record in records[:2]]
    assert durations[2] == sf.info(folder / "clips" / "common_voice_en_2.mp3").duration
    for position, (source, record) in enumerate(zip(sources, records, strict=True)):
        item = dataset[position]
        assert item["text"] == ENCODER.normalize(record["text"])  # the quote ate no column
        original = load_audio(source).numpy()
        decoded = item["audio"].numpy()
        assert len(decoded) == pytest.approx(len(original), abs=0.02 * 16000)
        length = min(len(decoded), len(original))
        assert np.corrcoef(decoded[:length], original[:length])[0, 1] > 0.95


def test_missing_sentences_columns_and_files_are_clear_errors(tmp_path):
    (tmp_path / "clips").mkdir()
    write_tone(tmp_path / "clips" / "a.mp3", 0.5)
    with pytest.raises(FileNotFoundError, match="dev.tsv"):
        CommonVoiceDataset(tmp_path, split="dev", text_encoder=ENCODER)
    write_tsv(tmp_path / "train.tsv", [("a.mp3", "hello"), ("b.mp3", "")])
    with pytest.raises(ValueError, match=r"train.tsv:3: no transcript for utterance b"):
        CommonVoiceDataset(tmp_path, text_encoder=ENCODER)
    (tmp_path / "train.tsv").write_text("client_id\tpath\nc0\ta.mp3\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['sentence'\]"):
        CommonVoiceDataset(tmp_path, text_encoder=ENCODER)
