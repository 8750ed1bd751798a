"""The real download code against a local HTTP server: resume, checksums, faults."""

import hashlib

import pytest

from src.utils.download import (
    ChecksumError,
    DownloadError,
    UnconfirmedSizeError,
    download,
    fetch,
    parse_checksum,
)
from tests.http_server import serve

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, several chunks


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr("src.utils.download.time.sleep", lambda seconds: None)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "file.bin").write_bytes(PAYLOAD)
    with serve(root) as (url, state):
        yield url, state


def test_download_verifies_and_skips_a_good_copy(served, tmp_path):
    url, state = served
    target = tmp_path / "out" / "file.bin"
    assert download(f"{url}/file.bin", target, md5(PAYLOAD), show_progress=False) == target
    assert target.read_bytes() == PAYLOAD
    assert not target.with_name("file.bin.part").exists()
    download(f"{url}/file.bin", target, md5(PAYLOAD), show_progress=False)
    assert len(state.requests) == 1  # the verified copy was not fetched again


def test_interrupted_download_resumes_with_a_range_request(served, tmp_path):
    url, state = served
    state.cut_after["/file.bin"] = 300_000
    target = tmp_path / "file.bin"
    download(f"{url}/file.bin", target, md5(PAYLOAD), show_progress=False)
    assert target.read_bytes() == PAYLOAD
    assert state.requests == [("/file.bin", None), ("/file.bin", "bytes=300000-")]


def test_partial_file_from_an_earlier_run_is_resumed(served, tmp_path):
    url, state = served
    target = tmp_path / "file.bin"
    target.with_name("file.bin.part").write_bytes(PAYLOAD[:1000])
    download(f"{url}/file.bin", target, md5(PAYLOAD), show_progress=False)
    assert target.read_bytes() == PAYLOAD
    assert state.requests == [("/file.bin", "bytes=1000-")]


def test_server_ignoring_range_restarts_from_zero(served, tmp_path):
    url, state = served
    state.ignore_range = True
    target = tmp_path / "file.bin"
    target.with_name("file.bin.part").write_bytes(b"garbage")
    download(f"{url}/file.bin", target, md5(PAYLOAD), show_progress=False)
    assert target.read_bytes() == PAYLOAD


def test_corrupt_copy_is_fetched_again(served, tmp_path):
    url, state = served
    target = tmp_path / "file.bin"
    target.write_bytes(PAYLOAD[:-1] + b"\x00")  # same size, wrong content
    download(f"{url}/file.bin", target, md5(PAYLOAD), show_progress=False)
    assert target.read_bytes() == PAYLOAD and len(state.requests) == 1


def test_checksum_mismatch_is_an_error_and_leaves_nothing(served, tmp_path):
    url, state = served
    target = tmp_path / "file.bin"
    with pytest.raises(ChecksumError, match="file.bin"):
        download(f"{url}/file.bin", target, md5(b"other"), retries=2, show_progress=False)
    assert not target.exists() and not target.with_name("file.bin.part").exists()
    assert len(state.requests) == 2


def test_missing_file_is_a_clear_error(served, tmp_path):
    url, state = served
    with pytest.raises(DownloadError, match="404"):
        download(f"{url}/nothing.bin", tmp_path / "x", show_progress=False)
    assert len(state.requests) == 1  # a 404 is not retried


def test_fetch_copies_local_paths_and_checks_them(tmp_path):
    source = tmp_path / "model.pth"
    source.write_bytes(b"weights")
    digest = "sha256:" + hashlib.sha256(b"weights").hexdigest()
    copy = fetch(str(source), tmp_path / "copy" / "model.pth", digest)
    assert copy.read_bytes() == b"weights"
    with pytest.raises(ChecksumError, match=r"model\.pth"):
        fetch(str(source), tmp_path / "copy2.pth", "sha256:" + "0" * 64)
    with pytest.raises(FileNotFoundError):
        fetch(str(tmp_path / "absent.pth"), tmp_path / "x")


def test_parse_checksum_checks_the_algorithm_and_the_digest_length():
    digest = hashlib.md5(b"x").hexdigest()
    assert parse_checksum(f"md5:{digest.upper()}") == ("md5", digest)
    assert parse_checksum("sha256:" + "a" * 64) == ("sha256", "a" * 64)
    for bad in ["crc32:1234", "md5:ab", "md5:" + "g" * 32, "sha256:" + "a" * 63, "md5", ""]:
        with pytest.raises(ValueError, match="checksum"):
            parse_checksum(bad)


@pytest.mark.parametrize("checksum", ["md5:abc", "sha1:" + "0" * 64, "sha512:" + "0" * 128])
def test_a_malformed_checksum_is_refused_before_any_request(served, tmp_path, checksum):
    url, state = served
    with pytest.raises(ValueError, match="checksum"):
        download(f"{url}/file.bin", tmp_path / "file.bin", checksum, show_progress=False)
    assert state.requests == []


def get(url: str, tmp_path, checksum: str | None = None, retries: int = 3):
    target = tmp_path / "file.bin"
    return download(f"{url}/file.bin", target, checksum, retries=retries, show_progress=False)


def nothing_kept(tmp_path) -> bool:
    return not (tmp_path / "file.bin").exists() and not (tmp_path / "file.bin.part").exists()


@pytest.mark.parametrize("faults", [["no_length"], ["chunked"]])
def test_body_without_a_length_and_without_a_checksum_is_refused(served, tmp_path, faults):
    """A body cut short reads like a whole one when nothing gives its size."""
    url, state = served
    state.faults["/file.bin"] = faults
    state.cut_after["/file.bin"] = 300_000
    with pytest.raises(UnconfirmedSizeError, match="cannot confirm.*checksum"):
        get(url, tmp_path)
    assert nothing_kept(tmp_path)
    assert len(state.requests) == 1  # asking again would not help


@pytest.mark.parametrize(
    ("fault", "second_range"),
    [
        ("no_length", None),  # the cut body looked whole: the checksum rejects it, fetch again
        ("chunked", "bytes=300000-"),  # an unfinished chunked body is an error: resume
    ],
)
def test_body_without_a_length_is_fine_with_a_checksum(served, tmp_path, fault, second_range):
    url, state = served
    state.faults["/file.bin"] = [fault, fault]
    state.cut_after["/file.bin"] = 300_000
    assert get(url, tmp_path, md5(PAYLOAD)).read_bytes() == PAYLOAD
    assert state.requests[1] == ("/file.bin", second_range)


@pytest.mark.parametrize("fault", ["range_from_zero", "range_bad_total"])
def test_a_206_with_a_wrong_content_range_is_not_appended(served, tmp_path, fault):
    url, state = served
    state.cut_after["/file.bin"] = 300_000
    state.faults["/file.bin"] = [None, fault]
    assert get(url, tmp_path).read_bytes() == PAYLOAD
    assert state.requests == [
        ("/file.bin", None),
        ("/file.bin", "bytes=300000-"),
        ("/file.bin", None),  # the partial file was discarded
    ]


def test_416_for_a_stale_oversized_partial_file_starts_over(served, tmp_path):
    url, state = served
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD + b"stale tail")
    assert get(url, tmp_path).read_bytes() == PAYLOAD
    assert state.requests == [("/file.bin", f"bytes={len(PAYLOAD) + 10}-"), ("/file.bin", None)]


def test_416_for_a_whole_partial_file_keeps_it(served, tmp_path):
    url, state = served
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    assert get(url, tmp_path).read_bytes() == PAYLOAD
    assert len(state.requests) == 1


@pytest.mark.parametrize("fault", ["disconnect", "garbage_status", "bad_length"])
def test_protocol_faults_are_retried(served, tmp_path, fault):
    url, state = served
    state.faults["/file.bin"] = [fault]
    assert get(url, tmp_path).read_bytes() == PAYLOAD
    assert len(state.requests) == 2


def test_a_chunked_body_cut_short_is_retried(served, tmp_path):
    """http.client raises IncompleteRead: the download resumes from what arrived."""
    url, state = served
    state.faults["/file.bin"] = ["chunked", "chunked"]
    state.cut_after["/file.bin"] = 200_000
    assert get(url, tmp_path, md5(PAYLOAD)).read_bytes() == PAYLOAD
    assert len(state.requests) == 2


@pytest.mark.parametrize("fault", ["disconnect", "garbage_status", "bad_length"])
def test_a_fault_on_every_attempt_is_a_clear_error(served, tmp_path, fault):
    url, state = served
    state.faults["/file.bin"] = [fault] * 3
    with pytest.raises(DownloadError, match=r"cannot download .*file\.bin: attempt 3/3"):
        get(url, tmp_path)
    assert not (tmp_path / "file.bin").exists()
    assert len(state.requests) == 3
