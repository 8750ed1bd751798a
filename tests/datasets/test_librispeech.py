"""LibriSpeech through the real download code: archives built from the shared LibriSpeech files
and served by a local HTTP server; a user's copy; the cached index; the dataset configs."""

import filecmp
import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import soundfile as sf

from src.datasets import LibriSpeechDataset, preparation
from src.datasets import librispeech as librispeech_module
from src.text_encoder import CTCCharTextEncoder
from src.trainer.setup import dataset_partitions
from src.utils.audio import AudioReadError
from src.utils.download import ChecksumError, DownloadError
from src.utils.files import temporary_files
from tests.conftest import compose_config
from tests.http_server import serve

DEV_CLEAN = "/dev-clean.tar.gz"


def make_archive(librispeech: Path, part: str, archive: Path) -> Path:
    """`<part>.tar.gz` laid out like openslr's: LibriSpeech/<part>/... and LibriSpeech/*.TXT."""
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(librispeech / "LICENSE.TXT", arcname="LibriSpeech/LICENSE.TXT")
        tar.add(librispeech / part, arcname=f"LibriSpeech/{part}")
    return archive


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def expected(shared_data: Path, part: str) -> dict[str, dict]:
    """id -> manifest record of the shared utterances of `part`."""
    lines = (shared_data / "LibriSpeech" / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {record["id"]: record for record in records if record["subset"] == part}


def copy_part(shared_data: Path, part: str, target: Path) -> Path:
    shutil.copytree(shared_data / "LibriSpeech" / part, target)
    return target


@pytest.fixture
def encoder() -> CTCCharTextEncoder:
    return CTCCharTextEncoder()


@pytest.fixture
def served(shared_data, tmp_path, monkeypatch):
    """A mirror serving dev-clean and test-clean; the checksum table trusts these archives."""
    www = tmp_path / "www"
    www.mkdir()
    for part in ("dev-clean", "test-clean"):
        archive = make_archive(shared_data / "LibriSpeech", part, www / f"{part}.tar.gz")
        monkeypatch.setitem(librispeech_module.CHECKSUMS, part, md5(archive))
    monkeypatch.setattr("src.utils.download.time.sleep", lambda seconds: None)
    with serve(www) as (url, state):
        yield url, state, www


def load(data_dir: Path, part, encoder, **kwargs) -> LibriSpeechDataset:
    return LibriSpeechDataset(part, data_dir=data_dir, text_encoder=encoder, **kwargs)


def test_download_verify_extract_and_index(served, shared_data, tmp_path, encoder):
    url, state, _ = served
    data_dir = tmp_path / "data"
    dataset = load(data_dir, "dev-clean", encoder, base_url=url)

    assert state.requests == [(DEV_CLEAN, None)]
    reference = expected(shared_data, "dev-clean")
    items = [dataset[position] for position in range(len(dataset))]
    assert sorted(item["id"] for item in items) == sorted(reference)
    for item, duration in zip(items, dataset.durations(), strict=True):
        record = reference[item["id"]]
        assert item["text"] == encoder.normalize(record["text"])
        assert duration == pytest.approx(record["duration"], abs=1e-3)
        assert duration == sf.info(shared_data / "LibriSpeech" / record["path"]).duration
        assert filecmp.cmp(item["audio_path"], shared_data / "LibriSpeech" / record["path"])
    assert {entry["speaker"] for entry in dataset._index} == {"1272", "2412"}

    part_dir = data_dir / "LibriSpeech" / "dev-clean"
    assert (part_dir / "index.json").is_file()
    assert (data_dir / "LibriSpeech" / "LICENSE.TXT").is_file()
    leftovers = {path.name for path in data_dir.iterdir()} - {"LibriSpeech", ".dev-clean.lock"}
    assert leftovers == set(), "the archive and the staging folder are removed once extracted"


def test_cut_connection_resumes_with_a_range_request(served, tmp_path, encoder):
    url, state, _ = served
    state.cut_after[DEV_CLEAN] = 200_000
    dataset = load(tmp_path / "data", "dev-clean", encoder, base_url=url)
    assert state.requests == [(DEV_CLEAN, None), (DEV_CLEAN, "bytes=200000-")]
    assert len(dataset) == 3


def test_corrupt_local_archive_is_fetched_again(served, tmp_path, encoder):
    url, state, www = served
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    good = (www / "dev-clean.tar.gz").read_bytes()
    (data_dir / "dev-clean.tar.gz").write_bytes(good[:5000] + bytes(100) + good[5100:])
    dataset = load(data_dir, "dev-clean", encoder, base_url=url)
    assert state.requests == [(DEV_CLEAN, None)]
    assert len(dataset) == 3


def test_served_archive_failing_its_checksum_is_never_extracted(served, tmp_path, encoder):
    url, state, www = served
    archive = www / "dev-clean.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-1000])  # truncated on the server
    data_dir = tmp_path / "data"
    with pytest.raises(ChecksumError, match="dev-clean.tar.gz"):
        load(data_dir, "dev-clean", encoder, base_url=url)
    assert len(state.requests) == 3  # every attempt re-fetched it
    assert not (data_dir / "LibriSpeech").exists()


def test_archive_that_cannot_be_extracted_is_refetched_once_then_rejected(
    served, tmp_path, encoder, monkeypatch
):
    url, state, www = served
    archive = www / "dev-clean.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    monkeypatch.setitem(librispeech_module.CHECKSUMS, "dev-clean", md5(archive))  # "valid"
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError, match="cannot extract"):
        load(data_dir, "dev-clean", encoder, base_url=url)
    assert state.requests == [(DEV_CLEAN, None), (DEV_CLEAN, None)]
    assert not (data_dir / "LibriSpeech").exists()
    assert not (data_dir / "dev-clean.tar.gz").exists()


def test_interrupted_extraction_is_redone_from_the_kept_archive(
    served, tmp_path, encoder, monkeypatch
):
    url, state, _ = served
    extract = preparation.extract_archive

    def extract_then_die(archive, target):
        extract(archive, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(preparation, "extract_archive", extract_then_die)
    data_dir = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        load(data_dir, "dev-clean", encoder, base_url=url)
    assert not (data_dir / "LibriSpeech" / "dev-clean").exists(), "no half-extracted part"
    monkeypatch.setattr(preparation, "extract_archive", extract)
    assert len(load(data_dir, "dev-clean", encoder, base_url=url)) == 3
    assert len(state.requests) == 1  # the verified archive was extracted again, not re-fetched


@pytest.mark.parametrize("layout", ["LibriSpeech/test-clean", "test-clean"])
def test_existing_copy_is_used_without_any_request(served, shared_data, tmp_path, encoder, layout):
    url, state, _ = served
    data_dir = tmp_path / "data"
    copy = copy_part(shared_data, "test-clean", data_dir / layout)
    dataset = load(data_dir, "test-clean", encoder, base_url=url)
    assert state.requests == []
    assert sorted(entry["id"] for entry in dataset._index) == sorted(
        expected(shared_data, "test-clean")
    )
    assert all(Path(entry["path"]).is_relative_to(copy) for entry in dataset._index)
    assert (copy / "index.json").is_file()


def test_download_false_without_a_copy_names_the_expected_folders(tmp_path, encoder):
    data_dir = tmp_path / "data"
    with pytest.raises(FileNotFoundError) as error:
        load(data_dir, "test-other", encoder, download=False)
    assert str(data_dir / "LibriSpeech" / "test-other") in str(error.value)
    assert str(data_dir / "test-other") in str(error.value)


def test_index_is_reused_and_rebuilt_when_stale(shared_data, tmp_path, encoder, monkeypatch):
    data_dir = tmp_path / "data"
    part_dir = copy_part(shared_data, "dev-clean", data_dir / "dev-clean")
    first = load(data_dir, "dev-clean", encoder, download=False)

    def no_reading(path):
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(sf, "info", no_reading)
    again = load(data_dir, "dev-clean", encoder, download=False)
    assert again._index == first._index
    assert temporary_files(part_dir) == []  # no temporary file left

    monkeypatch.undo()
    transcript = part_dir / "2412" / "153948" / "2412-153948.trans.txt"
    lines = transcript.read_text().splitlines()
    transcript.write_text("\n".join([lines[0], "2412-153948-0001 A NEW TEXT"]) + "\n")
    (part_dir / "1272" / "141231" / "1272-141231-0002.flac").unlink()
    rebuilt = load(data_dir, "dev-clean", encoder, download=False)
    texts = {entry["id"]: encoder.normalize(entry["text"]) for entry in rebuilt._index}
    assert texts.keys() == {"2412-153948-0000", "2412-153948-0001"}
    assert texts["2412-153948-0001"] == "a new text"


def test_audio_without_a_transcript_line_is_an_error_naming_it(shared_data, tmp_path, encoder):
    data_dir = tmp_path / "data"
    part_dir = copy_part(shared_data, "dev-clean", data_dir / "dev-clean")
    transcript = part_dir / "2412" / "153948" / "2412-153948.trans.txt"
    transcript.write_text(transcript.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="2412-153948-0001"):
        load(data_dir, "dev-clean", encoder, download=False)


def test_unreadable_audio_is_skipped_in_training_and_named_otherwise(
    shared_data, tmp_path, encoder, caplog
):
    data_dir = tmp_path / "data"
    part_dir = copy_part(shared_data, "dev-clean", data_dir / "dev-clean")
    broken = part_dir / "1272" / "141231" / "1272-141231-0002.flac"
    broken.write_bytes(b"fLaC truncated")
    with pytest.raises(AudioReadError, match=str(broken)):
        load(data_dir, "dev-clean", encoder, download=False)
    training = load(data_dir, "dev-clean", encoder, download=False, skip_bad_audio=True)
    assert "1272-141231-0002" not in {entry["id"] for entry in training._index}
    assert len(training) == len(expected(shared_data, "dev-clean")) - 1
    assert training.dropped == {"with unreadable audio": 1}
    assert str(broken) in caplog.text


def test_several_parts_form_one_dataset(shared_data, tmp_path, encoder):
    data_dir = tmp_path / "data"
    for part in ("dev-clean", "test-clean"):
        copy_part(shared_data, part, data_dir / "LibriSpeech" / part)
    dataset = load(data_dir, ["dev-clean", "test-clean"], encoder, download=False)
    assert len(dataset) == 14


def test_unknown_part_is_an_error(tmp_path, encoder):
    with pytest.raises(ValueError, match="dev-cleen"):
        load(tmp_path, "dev-cleen", encoder)


def test_training_configs_validate_on_both_dev_sets_and_share_one_folder():
    cfg = compose_config(
        "deepspeech2", "datasets=train_clean_360", "datasets.train.data_dir=/mnt/libri"
    )
    partitions = dataset_partitions(cfg.datasets)
    parts = {name: cfg.datasets[name].part for name in partitions}
    assert parts == {
        "train": "train-clean-360",
        "val": "dev-clean",
        "val_other": "dev-other",
        "test": "test-clean",
        "test_other": "test-other",
    }
    assert {cfg.datasets[name].data_dir for name in partitions} == {"/mnt/libri"}
    assert cfg.trainer.eval_partitions == ["val", "val_other"]  # the datasets config's list
    assert cfg.trainer.monitor == "min val_WER_(Argmax)"
    train_all = compose_config("deepspeech2", "datasets=train_all", "data_dir=/d")
    assert list(train_all.datasets.train.part) == [
        "train-clean-100",
        "train-clean-360",
        "train-other-500",
    ]
    assert train_all.datasets.test_other.data_dir == "/d/librispeech"


def test_eval_config_decodes_a_chosen_local_part():
    cfg = compose_config(
        "inference",
        "inferencer.from_pretrained=x.pth",
        "datasets=librispeech_eval",
        "datasets.test.data_dir=/copy",
        "datasets.test.part=test-other",
    )
    assert set(cfg.datasets) == {"val", "val_other", "test", "test_other"}
    assert (cfg.datasets.test.data_dir, cfg.datasets.test.part) == ("/copy", "test-other")


@pytest.mark.slow
def test_train_then_decode_a_local_copy_end_to_end(shared_data, tmp_path):
    """train.py validates on both dev partitions (`val`, `val_other`); inference.py decodes
    every utterance of a bare `<data_dir>/<part>` copy into `<id>.txt` files."""
    from tests.test_e2e import TINY_RUN, run_script

    libri = tmp_path / "libri"
    for part in ("dev-clean", "test-clean"):
        copy_part(shared_data, part, libri / "LibriSpeech" / part)
    trained = run_script(
        "train.py",
        "-cn=deepspeech2_cpu",
        "datasets=train_clean_100",
        f"datasets.train.data_dir={libri}",
        "datasets.train.download=false",
        "datasets.train.part=test-clean",
        "datasets.val_other.part=test-clean",  # dev-other is not in the shared data
        "datasets.train.max_duration=5",
        "+datasets.val_other.max_duration=5",
        *TINY_RUN,
        "transforms=logmel",
        "trainer.n_epochs=1",
        "trainer.log_augmentations=0",
        f"trainer.save_dir={tmp_path / 'saved'}",
        "trainer.run_name=libri",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    log = (tmp_path / "saved" / "libri" / "train.log").read_text()
    assert "val_WER_(Argmax)" in log and "val_other_WER_(Argmax)" in log

    local = tmp_path / "local"
    copy_part(shared_data, "test-clean", local / "test-clean")
    out = tmp_path / "out"
    decoded = run_script(
        "inference.py",
        f"inferencer.from_pretrained={tmp_path / 'saved' / 'libri' / 'model_best.pth'}",
        "datasets=librispeech_eval",
        f"datasets.test.data_dir={local}",
        "datasets.test.part=test-clean",
        "datasets.test.download=false",
        "inferencer.partitions=[test]",
        f"inferencer.save_path={out}",
    )
    assert decoded.returncode == 0, decoded.stderr[-3000:]
    written = sorted(path.stem for path in (out / "test").glob("*.txt"))
    assert written == sorted(expected(shared_data, "test-clean"))
    assert "test" in decoded.stdout and "WER_(Argmax)" in decoded.stdout
