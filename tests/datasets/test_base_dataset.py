"""Utterance ids name output files (`<save_path>/<partition>/<id>.txt`): every corpus's ids are
checked once, in `BaseDataset`, with errors naming the manifest line or the file."""

import pytest

from src.datasets import CustomDirDataset, ManifestDataset
from src.datasets.base_dataset import validate_utterance_id
from src.datasets.export import export_folder
from src.datasets.manifest import read_manifest
from src.text_encoder import CTCCharTextEncoder
from tests import hostile
from tests.conftest import write_tone
from tests.hostile import write_manifest

ENCODER = CTCCharTextEncoder()


@pytest.mark.parametrize("bad", hostile.BAD_IDS, ids=repr)
def test_an_id_that_cannot_name_a_file_is_an_error_naming_the_manifest_line(tmp_path, bad):
    manifest = write_manifest(tmp_path, ["fine-1", bad])
    with pytest.raises(
        ValueError, match=r"m\.jsonl:2: utterance id .* (separator|dot|empty|control|string)"
    ):
        ManifestDataset(manifest, text_encoder=ENCODER)


@pytest.mark.parametrize("good", ["an251-fash-b", "1089-134686-0000", "LJ001-0001", "a..b", "é_1"])
def test_ordinary_ids_pass(good):
    assert validate_utterance_id(good, "here") == good


def test_the_manifest_carries_each_entry_s_line(tmp_path):
    manifest = write_manifest(tmp_path, ["a", "b"])
    assert [entry["location"] for entry in read_manifest(manifest)] == [
        f"{manifest}:1",
        f"{manifest}:2",
    ]


def test_duplicate_ids_are_an_error_naming_both_lines(tmp_path):
    manifest = write_manifest(tmp_path, ["one", "two", "one"])
    with pytest.raises(ValueError, match=r"'one'.*m\.jsonl:1 and .*m\.jsonl:3"):
        ManifestDataset(manifest, text_encoder=ENCODER)


def test_duplicate_ids_in_a_folder_name_both_files(tmp_path):
    write_tone(tmp_path / "a.wav", 0.1)
    write_tone(tmp_path / "a.flac", 0.1)
    with pytest.raises(ValueError, match=r"'a'.*a\.(flac|wav) and .*a\.(flac|wav)"):
        CustomDirDataset(tmp_path, text_encoder=ENCODER)


def test_hidden_audio_file_in_a_folder_is_an_error_naming_it(tmp_path):
    write_tone(tmp_path / "ok.wav", 0.1)
    write_tone(tmp_path / ".sneaky.wav", 0.1)
    with pytest.raises(
        ValueError, match=r"\.sneaky\.wav: utterance id '\.sneaky' starts with a dot"
    ):
        CustomDirDataset(tmp_path, text_encoder=ENCODER)


@pytest.mark.parametrize("ids", [["x", "../../escaped"], ["x", "x"]])
def test_export_checks_ids_the_same_way_and_writes_nothing(tmp_path, ids):
    manifest = write_manifest(tmp_path, ids)
    with pytest.raises(ValueError, match=r"m\.jsonl:"):
        export_folder(read_manifest(manifest), tmp_path / "out" / "a" / "b")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "escaped.txt").exists()
