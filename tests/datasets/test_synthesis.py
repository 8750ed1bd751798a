"""The embedded eSpeak NG corpus generator: grammar, voices, layout, determinism."""

import hashlib
import json
import random
import re
from pathlib import Path

import pytest
import soundfile as sf

from src.datasets.synthesis import ensure_corpus, generate
from src.datasets.synthesis.espeak import ESpeakSynthesizer
from src.datasets.synthesis.sentences import (
    MAX_WORDS,
    MIN_WORDS,
    generate_sentence,
    transcript,
    vocabulary,
)

TINY = {"seed": 3, "n_train": 16, "n_val": 4, "n_test": 4}


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def read_manifest(root: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (root / f"{split}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "corpus"
    ensure_corpus(root, **TINY, num_workers=2, force=True)
    return root


def test_vocabulary_is_large_and_has_contractions():
    words = vocabulary()
    assert len(words) >= 500
    assert {"don't", "it's", "can't"} <= words
    assert all(re.fullmatch(r"[a-z']+", word) for word in words)


def sentences(seed: int, count: int = 2000) -> list[str]:
    rng = random.Random(seed)
    return [generate_sentence(rng) for _ in range(count)]


def test_sentences_are_deterministic_and_well_formed():
    assert sentences(7) == sentences(7)
    assert sentences(7) != sentences(8)
    words = vocabulary()
    for sentence in sentences(7):
        spoken = transcript(sentence).split()
        assert MIN_WORDS <= len(spoken) <= MAX_WORDS, sentence
        assert set(spoken) <= words, sentence


def test_voice_table_holds_out_val_and_test_variants():
    train = generate.VOICES["train"]
    assert len({(v.name, v.rate, v.pitch, v.pitch_range) for v in train}) >= 60
    train_variants = {voice.variant for voice in train}
    assert train_variants == set(generate.TRAIN_VARIANTS)
    assert not train_variants & generate.HELD_OUT_VARIANTS
    for split in ("val", "test"):
        assert {voice.variant for voice in generate.VOICES[split]} <= generate.HELD_OUT_VARIANTS
    speakers = [voice.speaker for voices in generate.VOICES.values() for voice in voices]
    assert len(speakers) == len(set(speakers))
    with ESpeakSynthesizer() as engine:
        for voices in generate.VOICES.values():
            for voice in voices:
                engine.set_voice(voice.name, voice.rate, voice.pitch, voice.pitch_range)


@pytest.mark.parametrize(
    ("voice", "message"), [("en-us+nosuchvariant", "nosuchvariant"), ("xx-nolang", "xx-nolang")]
)
def test_unknown_voice_is_a_clear_error(voice: str, message: str):
    with ESpeakSynthesizer() as engine, pytest.raises(ValueError, match=message):
        engine.set_voice(voice)


def test_corpus_layout_and_manifests(corpus: Path):
    for split in generate.SPLITS:
        records = read_manifest(corpus, split)
        assert len(records) == TINY[f"n_{split}"]
        for record in records:
            assert set(record) == {"id", "path", "duration", "text", "speaker", "word_starts"}
            speaker, chapter, _ = record["id"].split("-")
            path = corpus / record["path"]
            assert path.parent == corpus / "LibriSpeech" / split / speaker / chapter
            assert path.name == f"{record['id']}.flac" and int(speaker) == record["speaker"]
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert record["duration"] == pytest.approx(info.duration, abs=1e-3)
            assert re.fullmatch(r"[a-z' ]+", record["text"])
            lines = (path.parent / f"{speaker}-{chapter}.trans.txt").read_text().splitlines()
            assert f"{record['id']} {record['text'].upper()}" in lines
        audio, _ = sf.read(corpus / records[0]["path"])
        assert 0.3 < abs(audio).max() < 1.0


def test_manifests_hold_espeak_word_starts(corpus: Path):
    records = [record for split in generate.SPLITS for record in read_manifest(corpus, split)]
    n_words = n_timed = 0
    for record in records:
        starts = record["word_starts"]
        assert len(starts) == len(record["text"].split())
        timed = [start for start in starts if start is not None]
        assert starts[0] is not None and timed == sorted(timed)
        assert all(0 <= start < record["duration"] for start in timed)
        # the first word starts where the speech does: after the kept margin of silence
        assert starts[0] == generate.MARGIN_SECONDS
        audio, rate = sf.read(corpus / record["path"])
        for start in timed:  # speech follows every word start within 0.15 s
            after = audio[round(start * rate) : round((start + 0.15) * rate)]
            assert abs(after).max() > 0.05, (record["id"], start)
        n_words += len(starts)
        n_timed += len(timed)
    assert n_timed >= 0.9 * n_words  # eSpeak joins a few unstressed words to a neighbour


def test_word_events_pair_with_transcript_words():
    sentence = "there were eight zebras, in the park. didn't he?"
    # eSpeak's events: "there" (for "there were"), "eight", ..., one at the space before
    # "didn't" (its first word after a full stop), "he"
    events = [(0, 0), (11, 100), (17, 200), (25, 300), (32, 400), (37, 500), (45, 600)]
    starts = generate.word_starts(sentence, events, 100, cut=0.5, duration=6.0)
    assert transcript(sentence).split() == [
        "there",
        "were",
        "eight",
        "zebras",
        "in",
        "the",
        "park",
        "didn't",
        "he",
    ]
    assert starts == [0.1, None, 0.5, 1.5, 2.5, None, 3.5, 4.5, 5.5]


def test_splits_are_disjoint(corpus: Path):
    manifests = {split: read_manifest(corpus, split) for split in generate.SPLITS}
    texts = {split: {r["text"] for r in records} for split, records in manifests.items()}
    speakers = {split: {r["speaker"] for r in records} for split, records in manifests.items()}
    assert not texts["train"] & (texts["val"] | texts["test"])
    assert not speakers["train"] & (speakers["val"] | speakers["test"])


def test_same_seed_gives_identical_files_whatever_the_workers(corpus: Path, tmp_path: Path):
    ensure_corpus(tmp_path / "again", **TINY, num_workers=1)
    assert file_hashes(tmp_path / "again") == file_hashes(corpus)


def test_ensure_corpus_generates_only_when_needed(tmp_path: Path):
    root = tmp_path / "corpus"
    small = {"seed": 0, "n_train": 2, "n_val": 1, "n_test": 1, "num_workers": 1}
    assert ensure_corpus(root, **small)
    hashes, marker_time = file_hashes(root), (root / generate.MARKER).stat().st_mtime_ns
    assert not ensure_corpus(root, **small)
    assert file_hashes(root) == hashes
    assert (root / generate.MARKER).stat().st_mtime_ns == marker_time
    assert ensure_corpus(root, **{**small, "seed": 1})  # other parameters: regenerated
    assert len(read_manifest(root, "train")) == 2
    assert [path.name for path in tmp_path.iterdir() if path.is_dir()] == ["corpus"]


def test_failed_generation_leaves_no_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fail(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "_render_all", fail)
    with pytest.raises(KeyboardInterrupt):
        ensure_corpus(tmp_path / "corpus", n_train=2, n_val=1, n_test=1)
    assert not [path for path in tmp_path.iterdir() if path.is_dir()]


def test_foreign_folder_is_not_replaced(tmp_path: Path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not replacing"):
        ensure_corpus(tmp_path / "corpus", n_train=2, n_val=1, n_test=1)
