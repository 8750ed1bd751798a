import json

import pytest

from src.datasets import LJSpeechDataset
from src.datasets.ljspeech import PARTS
from src.text_encoder import CTCCharTextEncoder
from tests.conftest import write_tone

ENCODER = CTCCharTextEncoder()


@pytest.fixture
def corpus(tmp_path):
    """LJ Speech's layout: 22.05 kHz wavs and `id|raw|normalized` lines with stray quotes."""
    (tmp_path / "wavs").mkdir()
    lines = []
    for index in range(20):
        utterance_id = f"LJ001-{index:04d}"
        write_tone(tmp_path / "wavs" / f"{utterance_id}.wav", 0.1 + 0.01 * index, 22050)
        lines.append(f'{utterance_id}|Mr. "Smith" said {index}|Mister "Smith said number {index}')
    lines[3] = "LJ001-0003|Only the raw text|"
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_reads_the_normalized_column_at_16k_and_falls_back_to_the_raw_one(corpus):
    dataset = LJSpeechDataset(corpus, part="all", text_encoder=ENCODER)
    assert len(dataset) == 20
    item = dataset[1]
    assert item["id"] == "LJ001-0001"
    assert item["text"] == "mister smith said number"  # the unbalanced quote kept the line
    assert item["audio_length"] == round(0.11 * 16000)
    assert dataset.durations()[1] == pytest.approx(0.11, abs=1e-4)
    assert dataset[3]["text"] == "only the raw text"


def test_parts_are_disjoint_stable_and_cover_the_corpus(corpus):
    ids = {}
    for part in PARTS:
        dataset = LJSpeechDataset(
            corpus, part=part, val_percent=25, test_percent=25, text_encoder=ENCODER
        )
        ids[part] = {entry["id"] for entry in dataset._index}
    assert ids["train"] | ids["val"] | ids["test"] == ids["all"]
    assert len(ids["train"]) + len(ids["val"]) + len(ids["test"]) == 20
    assert ids["val"] and ids["test"] and len(ids["train"]) > 5
    smaller_test = LJSpeechDataset(corpus, part="test", test_percent=10, text_encoder=ENCODER)
    assert {entry["id"] for entry in smaller_test._index} <= ids["test"]


def test_errors_name_the_utterance(corpus):
    with pytest.raises(ValueError, match="part must be one of"):
        LJSpeechDataset(corpus, part="dev", text_encoder=ENCODER)
    (corpus / "wavs" / "LJ001-0005.wav").unlink()
    with pytest.raises(FileNotFoundError, match="no audio for utterance LJ001-0005"):
        LJSpeechDataset(corpus, part="all", text_encoder=ENCODER)
    metadata = corpus / "metadata.csv"
    metadata.write_text(metadata.read_text() + "LJ001-0099||\n")
    with pytest.raises(ValueError, match=r"metadata.csv:21: no transcript for LJ001-0099"):
        LJSpeechDataset(corpus, part="all", text_encoder=ENCODER)


def test_the_shared_ljspeech_samples_load(shared_data):
    folder = shared_data / "ljspeech_samples"
    dataset = LJSpeechDataset(folder, part="all", text_encoder=ENCODER)
    manifest = {
        record["id"]: record
        for record in map(json.loads, (folder / "manifest.jsonl").read_text().splitlines())
    }
    assert len(dataset) == len(manifest) == 32
    for position in (0, 1, 31):
        item = dataset[position]
        record = manifest[item["id"]]
        assert item["audio_length"] / 16000 == pytest.approx(record["duration"], abs=0.01)
        assert item["text"] == ENCODER.normalize(record["text"])
        assert item["audio"].abs().max() > 0.05  # speech, not silence
