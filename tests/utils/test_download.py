"""The real download code against a local HTTP server: resume, checksums, faults."""

import hashlib

import pytest

from src.utils.download import (
    ChecksumError,
    DownloadError,
    download,
    fetch,
    parse_checksum,
)
from tests.http_server import serve

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, several chunks


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


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


def test_parse_checksum_rejects_unknown_algorithms():
    assert parse_checksum("MD5:AB".lower()) == ("md5", "ab")
    with pytest.raises(ValueError, match="checksum"):
        parse_checksum("crc32:1234")
