import json

import pytest

from src.datasets.manifest import ManifestDataset, held_out_speakers, select_speakers
from src.text_encoder import CTCCharTextEncoder
from tests.conftest import REPO_ROOT, write_tone


@pytest.fixture
def manifest(tmp_path):
    lines = []
    for index, speaker in enumerate(["ann", "ann", "bob", "cid"]):
        write_tone(tmp_path / f"u{index}.wav", 0.2)
        lines.append({"path": f"u{index}.wav", "duration": 0.2, "text": "a", "speaker": speaker})
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def speakers_of(dataset: ManifestDataset) -> list[str]:
    return sorted(entry["speaker"] for entry in dataset._index)


def test_speakers_and_exclusions_make_disjoint_splits(manifest):
    encoder = CTCCharTextEncoder()
    held_out = ["ann", "cid"]
    train = ManifestDataset(manifest, exclude_speakers=held_out, text_encoder=encoder)
    dev = ManifestDataset(manifest, speakers=held_out, text_encoder=encoder)
    assert speakers_of(train) == ["bob"]
    assert speakers_of(dev) == ["ann", "ann", "cid"]


def test_unknown_speaker_is_an_error(manifest):
    with pytest.raises(ValueError, match="dan"):
        ManifestDataset(manifest, speakers=["dan"], text_encoder=CTCCharTextEncoder())


def test_the_an4_config_names_its_dev_speakers(tmp_path):
    configs = REPO_ROOT / "configs" / "datasets"
    dev = held_out_speakers(configs / "an4_dev_split.yaml")
    assert len(dev) == 8  # of the 74 AN4 train speakers
    assert held_out_speakers(configs / "an4.yaml") == dev  # one dev split, however AN4 loads
    (tmp_path / "no_split.yaml").write_text("train:\n  manifest_path: x.jsonl\n")
    with pytest.raises(ValueError, match="no train.exclude_speakers"):
        held_out_speakers(tmp_path / "no_split.yaml")


def test_speakers_compare_as_text_whatever_their_type():
    index = [
        {"id": "a", "speaker": 301},
        {"id": "b", "speaker": "302"},
        {"id": "c", "speaker": 303},
    ]
    assert [entry["id"] for entry in select_speakers(index, ["301", 302])] == ["a", "b"]
    assert [entry["id"] for entry in select_speakers(index, exclude_speakers=[303])] == ["a", "b"]
    with pytest.raises(ValueError, match=r"not in the manifest: \['304'\]"):
        select_speakers(index, [304])
