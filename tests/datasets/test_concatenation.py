"""Training items made of several utterances in a row (`concat_probability`): what a window of a
long recording holds."""

import json

import pytest
import torch

from src.datasets import ManifestDataset
from src.datasets.samplers import ItemKey
from src.text_encoder import CTCCharTextEncoder
from src.utils.audio import AudioReadError, load_audio
from tests.conftest import write_tone

ENCODER = CTCCharTextEncoder()
WORDS = ["one", "two", "three", "four", "five", "six"]


@pytest.fixture
def manifest(tmp_path):
    """Six tones of 0.5-1.0 s, each its own frequency, transcribed as a number word."""
    lines = []
    for index, word in enumerate(WORDS):
        seconds = 0.5 + 0.1 * index
        write_tone(tmp_path / f"{word}.wav", seconds, frequency=200.0 + 100 * index)
        lines.append({"id": word, "path": f"{word}.wav", "duration": seconds, "text": word})
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def keys(count: int = 40) -> list[ItemKey]:
    return [ItemKey(index % len(WORDS), seed=3, pass_index=index) for index in range(count)]


def test_a_concatenated_item_is_its_utterances_in_a_row_with_their_transcripts(manifest):
    dataset = ManifestDataset(
        manifest, text_encoder=ENCODER, concat_probability=1.0, concat_max_seconds=2.5
    )
    audio = {word: load_audio(manifest.parent / f"{word}.wav") for word in WORDS}
    joined = 0
    for key in keys():
        item = dataset[key]
        words = item["text"].split()
        assert words[0] == WORDS[key.index] and item["id"] == WORDS[key.index]
        assert torch.equal(item["audio"], torch.cat([audio[word] for word in words]))
        assert item["audio_length"] == len(item["audio"]) <= 2.5 * 16000
        assert ENCODER.labels_to_text(item["text_encoded"].tolist()) == item["text"]
        joined += len(words) > 1
    assert joined == len(keys())  # 2.5 s always fits a second utterance (at most 1.0 + 1.0 s)


def test_items_are_a_function_of_their_key_and_only_a_share_are_concatenated(manifest):
    dataset = ManifestDataset(manifest, text_encoder=ENCODER, concat_probability=0.5)
    texts = [dataset[key]["text"] for key in keys(200)]
    assert texts == [dataset[key]["text"] for key in keys(200)]
    joined = sum(" " in text for text in texts)
    assert 60 < joined < 140
    assert len({text for text in texts if " " in text}) > 10


def test_without_concatenation_items_draw_nothing_extra(manifest):
    plain = ManifestDataset(manifest, text_encoder=ENCODER)
    assert [plain[key]["text"] for key in keys()] == [WORDS[key.index] for key in keys()]


def test_an_utterance_longer_than_the_limit_stays_alone(manifest):
    dataset = ManifestDataset(
        manifest, text_encoder=ENCODER, concat_probability=1.0, concat_max_seconds=0.9
    )
    assert [dataset[key]["text"] for key in keys()] == [WORDS[key.index] for key in keys()]


def test_an_unreadable_follower_is_named_or_skipped(manifest):
    (manifest.parent / "two.wav").write_bytes(b"not audio")
    strict = ManifestDataset(manifest, text_encoder=ENCODER, concat_probability=1.0)
    with pytest.raises(AudioReadError, match="two.wav"):
        for key in keys():
            strict[key]
    lenient = ManifestDataset(
        manifest, text_encoder=ENCODER, concat_probability=1.0, skip_bad_audio=True
    )
    skipped = [lenient[key] for key in keys() if "skipped" in lenient[key]]
    assert skipped and all("two.wav" in item["skipped"] for item in skipped)


@pytest.mark.parametrize(
    "options",
    [{"concat_probability": 1.5}, {"concat_probability": -0.1}, {"concat_max_seconds": 0}],
)
def test_bad_concatenation_options_are_an_error(manifest, options):
    with pytest.raises(ValueError, match="concat"):
        ManifestDataset(manifest, text_encoder=ENCODER, **options)
