"""AN4 through the real download code: a CMU-format archive (big-endian raw PCM, etc/ lists)
built from shared AN4 utterances and served by a local HTTP server."""

import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from src.datasets import AN4Dataset
from src.datasets import an4 as an4_module
from src.datasets.an4 import read_part, read_transcription
from src.text_encoder import CTCCharTextEncoder
from src.utils.archive import UnsafeArchiveError
from src.utils.download import DownloadError
from tests import hostile
from tests.conftest import compose_config
from tests.http_server import serve

ARCHIVE_PATH = "/an4_raw.bigendian.tar.gz"
# Shared AN4 train speakers and how many of their utterances go to each part of the test
# archive (the shared copy holds AN4 train only, so "test" borrows a train speaker).
SPEAKERS = {"train": {"fash": 3, "fbbh": 2, "mblw": 2}, "test": {"mcen": 2}}
FOLDERS = {"train": "an4_clstk", "test": "an4test_clstk"}


def chosen(shared_data: Path) -> dict[str, list[dict]]:
    """Part -> the shared manifest records placed in it."""
    lines = (shared_data / "an4" / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {
        part: [
            record
            for speaker, count in speakers.items()
            for record in [r for r in records if r["speaker"] == speaker][:count]
        ]
        for part, speakers in SPEAKERS.items()
    }


def build_tree(shared_data: Path, root: Path, parts: dict[str, list[dict]]) -> Path:
    """`root/an4/` as CMU ships it: wav/<folder>/<speaker>/<id>.raw (16-bit big-endian) and
    etc/an4_<part>.{transcription,fileids}."""
    tree = root / "an4"
    (tree / "etc").mkdir(parents=True)
    for part, records in parts.items():
        fileids, transcription = [], []
        for record in records:
            fileid = f"{FOLDERS[part]}/{record['speaker']}/{record['id']}"
            samples, rate = sf.read(shared_data / "an4" / record["path"], dtype="int16")
            assert rate == 16000
            raw = tree / "wav" / f"{fileid}.raw"
            raw.parent.mkdir(parents=True, exist_ok=True)
            raw.write_bytes(samples.astype(">i2").tobytes())
            fileids.append(fileid)
            transcription.append(f"<s> {record['text']} </s> ({record['id']})")
        (tree / "etc" / f"an4_{part}.fileids").write_text("\n".join(fileids) + "\n")
        (tree / "etc" / f"an4_{part}.transcription").write_text("\n".join(transcription) + "\n")
    return tree


def pack(tree: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(tree, arcname="an4")
    return archive


@pytest.fixture
def records(shared_data) -> dict[str, list[dict]]:
    return chosen(shared_data)


@pytest.fixture
def served(shared_data, records, tmp_path, monkeypatch):
    """A CMU-like server holding the AN4 archive; also yields the unpacked tree to vary it."""
    www = tmp_path / "www"
    www.mkdir()
    tree = build_tree(shared_data, tmp_path / "source", records)
    pack(tree, www / ARCHIVE_PATH.lstrip("/"))
    monkeypatch.setattr("src.utils.download.time.sleep", lambda seconds: None)
    with serve(www) as (url, state):
        yield url, state, tree


@pytest.fixture
def encoder() -> CTCCharTextEncoder:
    return CTCCharTextEncoder()


def load(data_dir: Path, part: str, encoder, **kwargs) -> AN4Dataset:
    return AN4Dataset(part, data_dir=data_dir, text_encoder=encoder, **kwargs)


def test_download_converts_the_raw_audio_exactly_and_indexes_it(
    served, shared_data, records, tmp_path, encoder
):
    url, state, _ = served
    data_dir = tmp_path / "an4"
    for part in ("train", "test"):
        dataset = load(data_dir, part, encoder, base_url=url)
        by_id = {entry["id"]: entry for entry in dataset._index}
        assert sorted(by_id) == sorted(record["id"] for record in records[part])
        for record in records[part]:
            entry = by_id[record["id"]]
            assert entry["speaker"] == record["speaker"]
            assert encoder.normalize(entry["text"]) == encoder.normalize(record["text"])
            assert entry["duration"] == pytest.approx(record["duration"], abs=1e-3)
            converted, rate = sf.read(entry["path"], dtype="int16")
            original, _ = sf.read(shared_data / "an4" / record["path"], dtype="int16")
            assert rate == 16000 and np.array_equal(converted, original)
        assert dataset[0]["text"] == encoder.normalize(by_id[dataset[0]["id"]]["text"])
    assert state.requests == [(ARCHIVE_PATH, None)]  # one archive for both parts
    assert (data_dir / ".complete").is_file()
    assert sorted(path.name for path in data_dir.iterdir()) == [
        ".complete",
        ".lock",
        "etc",
        "test",
        "train",
    ], "the archive and the raw tree are removed once converted"


def test_texts_drop_the_sentence_markers(served, tmp_path, encoder):
    url, _, _ = served
    dataset = load(tmp_path / "an4", "train", encoder, base_url=url)
    texts = {entry["id"]: entry["text"] for entry in dataset._index}
    assert encoder.normalize(texts["an251-fash-b"]) == "yes"
    assert not any("<s>" in text or "</s>" in text or "(" in text for text in texts.values())


def test_speaker_selection(served, tmp_path, encoder):
    url, _, _ = served
    data_dir = tmp_path / "an4"
    load(data_dir, "train", encoder, base_url=url)
    dev = load(data_dir, "train", encoder, speakers=["fbbh", "mblw"])
    rest = load(data_dir, "train", encoder, exclude_speakers=["fbbh", "mblw"])
    assert sorted(entry["speaker"] for entry in dev._index) == ["fbbh", "fbbh", "mblw", "mblw"]
    assert {entry["speaker"] for entry in rest._index} == {"fash"}
    with pytest.raises(ValueError, match="nobody"):
        load(data_dir, "train", encoder, speakers=["nobody"])


def test_download_false_before_preparation_is_an_error(tmp_path, encoder):
    with pytest.raises(FileNotFoundError, match="download=true"):
        load(tmp_path / "an4", "train", encoder, download=False)


def test_archive_without_the_an4_layout_is_refetched_once_then_rejected(served, tmp_path, encoder):
    url, state, tree = served
    (tree / "etc" / "an4_test.fileids").unlink()
    pack(tree, Path(state.root) / ARCHIVE_PATH.lstrip("/"))
    data_dir = tmp_path / "an4"
    with pytest.raises(DownloadError, match="an4/etc/an4_test.fileids"):
        load(data_dir, "train", encoder, base_url=url)
    assert state.requests == [(ARCHIVE_PATH, None), (ARCHIVE_PATH, None)]
    assert not (data_dir / ".complete").exists() and not (data_dir / "train").exists()


@pytest.mark.parametrize(
    "members",
    [
        hostile.symlink_chain_write(2, "escaped.txt", b"written outside"),
        hostile.hardlink_overwrite(2, "victim.txt", b"overwritten"),
    ],
    ids=["pathmax-symlink-chain", "hard-link-overwrite"],
)
def test_hostile_archive_changes_nothing_outside_and_leaves_nothing(
    served, tmp_path, encoder, members
):
    """The whole AN4 layout plus a CVE-2025-4517 escape: plain HTTP, no checksum, and the
    layout (checked after extraction) is right. The escape aims at `tmp_path`."""
    url, state, tree = served
    (tmp_path / "victim.txt").write_text("original")
    with tarfile.open(Path(state.root) / ARCHIVE_PATH.lstrip("/"), "w:gz") as tar:
        tar.add(tree, arcname="an4")
        hostile.add_members(tar, members)
    data_dir = tmp_path / "an4"
    before = hostile.snapshot(tmp_path, skip=data_dir)
    with pytest.raises(UnsafeArchiveError, match="is a symlink"):
        load(data_dir, "train", encoder, base_url=url)
    assert hostile.snapshot(tmp_path, skip=data_dir) == before
    assert (tmp_path / "victim.txt").read_text() == "original"
    assert not (tmp_path / "escaped.txt").exists()
    assert os.listdir(data_dir) == [".lock"], "no archive, staging folder or part left"
    assert len(state.requests) == 2  # fetched once more, refused again


def test_truncated_archive_is_refetched_once_then_rejected(served, tmp_path, encoder):
    url, state, _ = served
    archive = Path(state.root) / ARCHIVE_PATH.lstrip("/")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DownloadError, match="cannot extract"):
        load(tmp_path / "an4", "train", encoder, base_url=url)
    assert len(state.requests) == 2


def test_listed_utterance_without_audio_is_an_error_naming_it(served, tmp_path, encoder):
    url, state, tree = served
    next((tree / "wav" / "an4_clstk" / "fbbh").glob("*.raw")).unlink()
    pack(tree, Path(state.root) / ARCHIVE_PATH.lstrip("/"))
    data_dir = tmp_path / "an4"
    with pytest.raises(FileNotFoundError, match=r"no audio for utterance \S+-fbbh-b"):
        load(data_dir, "train", encoder, base_url=url)
    assert not (data_dir / ".complete").exists()


def test_interrupted_conversion_is_redone(served, tmp_path, encoder, monkeypatch):
    url, state, _ = served
    convert = an4_module.convert_raw
    calls = []

    def convert_then_die(raw, flac):
        calls.append(raw)
        if len(calls) == 3:
            raise KeyboardInterrupt
        convert(raw, flac)

    monkeypatch.setattr(an4_module, "convert_raw", convert_then_die)
    data_dir = tmp_path / "an4"
    with pytest.raises(KeyboardInterrupt):
        load(data_dir, "train", encoder, base_url=url)
    assert not (data_dir / ".complete").exists() and not (data_dir / "train").exists()
    monkeypatch.setattr(an4_module, "convert_raw", convert)
    assert len(load(data_dir, "train", encoder, base_url=url)) == 7
    assert len(state.requests) == 1  # the archive left by the interrupted run was reused


def test_index_is_reused_and_rebuilt_when_stale(served, tmp_path, encoder, monkeypatch):
    url, _, _ = served
    data_dir = tmp_path / "an4"
    first = load(data_dir, "train", encoder, base_url=url)

    def no_reading(path):
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(an4_module.sf, "info", no_reading)
    assert load(data_dir, "train", encoder)._index == first._index
    monkeypatch.undo()
    transcription = data_dir / "etc" / "an4_train.transcription"
    transcription.write_text(
        transcription.read_text().replace(
            "<s> YES </s> (an251-fash-b)", "<s> NO </s> (an251-fash-b)"
        )
    )
    texts = {entry["id"]: entry["text"] for entry in load(data_dir, "train", encoder)._index}
    assert encoder.normalize(texts["an251-fash-b"]) == "no"


def test_bad_transcription_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "an4_train.transcription"
    path.write_text("<s> YES </s> (an251-fash-b)\nYES an253-fash-b\n")
    with pytest.raises(ValueError, match=r"an4_train.transcription:2"):
        read_transcription(path)


def test_config_trains_without_the_dev_speakers_and_tests_on_an4_test():
    cfg = compose_config("deepspeech2", *["datasets=an4", "data_dir=/d"])
    assert {name: node.part for name, node in cfg.datasets.items()} == {
        "train": "train",
        "val": "train",
        "test": "test",
    }
    assert list(cfg.datasets.val.speakers) == list(cfg.datasets.train.exclude_speakers)
    assert {node.data_dir for node in cfg.datasets.values()} == {"/d/an4"}


@pytest.mark.parametrize("fileid", ["../../../../etc/secret", "/etc/secret", "an4_clstk\\..\\x"])
def test_a_file_id_pointing_outside_the_wav_folder_is_an_error(tmp_path, fileid):
    (tmp_path / "an4_train.transcription").write_text("<s> YES </s> (secret)\n")
    (tmp_path / "an4_train.fileids").write_text(f"{fileid}\n")
    with pytest.raises(ValueError, match="an4_train.fileids: file id .* points outside"):
        read_part(tmp_path, "train")
