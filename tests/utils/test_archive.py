"""Extraction of hand-built hostile archives: every refusal leaves nothing behind, outside the
target or in it, and no staging folder."""

import io
import os
import re
import tarfile
import zipfile
from pathlib import PurePosixPath

import pytest

from src.utils import archive as archive_module
from src.utils.archive import UnsafeArchiveError, extract_archive
from src.utils.download import DownloadError
from tests import hostile
from tests.conftest import REPO_ROOT
from tests.hostile import member, snapshot, write_tar


@pytest.fixture
def box(tmp_path):
    """A folder holding the archives, a file that must never change and the target's parent."""
    (tmp_path / "victim.txt").write_text("original")
    return tmp_path


def refused(archive, target, match: str, error=UnsafeArchiveError, **caps) -> None:
    """`extract_archive` raises `error` and changes nothing anywhere under the target's parent:
    no target, no staging folder, no file written or overwritten."""
    parent = target.parent
    before = snapshot(parent)
    with pytest.raises(error, match=match):
        extract_archive(archive, target, **caps)
    assert snapshot(parent) == before
    assert (parent / "victim.txt").read_text() == "original"


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_extracts_files_and_folders_of_every_tar_compression(box, compression):
    archive = write_tar(
        box / "ok.tar",
        [member("corpus", type=tarfile.DIRTYPE), member("corpus/a.txt", b"hello")],
        compression,
    )
    target = extract_archive(archive, box / "target")
    assert (target / "corpus" / "a.txt").read_bytes() == b"hello"
    assert sorted(os.listdir(box)) == ["ok.tar", "target", "victim.txt"]


def test_extracts_a_zip(box):
    archive = hostile.zip_with(box / "ok.zip", ["dir/b.txt", "c.txt"])
    target = extract_archive(archive, box / "target")
    assert (target / "dir" / "b.txt").read_text() == "content of dir/b.txt"
    assert (target / "c.txt").is_file()


def test_pathmax_symlink_chain_cannot_write_outside(box):
    """CVE-2025-4517: tarfile's `data` filter of this Python let this write box/escaped.txt."""
    members = hostile.symlink_chain_write(1, "escaped.txt", b"written outside")
    refused(write_tar(box / "chain.tar.gz", members), box / "target", "symlink")
    assert not (box / "escaped.txt").exists()


def test_hard_link_cannot_overwrite_a_file_outside(box):
    members = hostile.hardlink_overwrite(1, "victim.txt", b"overwritten")
    refused(write_tar(box / "hard.tar.gz", members), box / "target", "symlink")
    link_only = [member("corpus/hard", type=tarfile.LNKTYPE, linkname="corpus/a.txt")]
    refused(write_tar(box / "link.tar", link_only), box / "target", "hard link")


def test_symlink_then_a_file_through_it_is_refused(box):
    archive = write_tar(box / "alias.tar.gz", hostile.symlink_then_file())
    refused(archive, box / "target", r"'alias' is a symlink \(to 'real'\)")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/abs/inside.txt", "an absolute path"),
        ("../escape.txt", "'..'"),
        ("corpus/../../escape.txt", "'..'"),
        ("..\\escape.txt", "a backslash"),
        ("C:/escape.txt", "a drive letter"),
        ("corpus/new\nline.txt", "control character"),
    ],
)
def test_names_that_could_leave_the_target_are_refused(box, name, problem):
    archive = write_tar(box / "names.tar.gz", [member("corpus/ok.txt", b"ok"), member(name, b"x")])
    refused(archive, box / "target", re.escape(problem))


@pytest.mark.parametrize("position", [0, 1, 2])
def test_device_and_fifo_members_are_refused(box, position):
    device = hostile.device_members()[position]
    archive = write_tar(box / "dev.tar", [member("corpus/ok.txt", b"ok"), device])
    refused(archive, box / "target", "device|fifo")


def test_sparse_member_is_refused_before_anything_is_written(box):
    archive = hostile.sparse_tar(box / "sparse.tar.gz", real_size=20 << 30)
    assert archive.stat().st_size < 200  # 20 GiB declared in a few bytes
    refused(archive, box / "target", "sparse")


def test_member_given_twice_is_refused(box):
    archive = write_tar(box / "twice.tar", [member("a.txt", b"1"), member("a.txt", b"2")])
    refused(archive, box / "target", "appears twice")


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["ok.txt", "../escape.txt"], "'..'"),
        (["/abs.txt"], "an absolute path"),
        (["dir\\..\\..\\escape.txt"], "a backslash"),
    ],
)
def test_zip_names_that_could_leave_the_target_are_refused(box, names, problem):
    archive = hostile.zip_with(box / "evil.zip", names)
    refused(archive, box / "target", re.escape(problem))


def test_zip_symlink_member_is_refused(box):
    archive = hostile.zip_with(box / "link.zip", ["ok.txt"], symlink="passwd")
    refused(archive, box / "target", "symlink")


def test_a_tar_holding_a_zip_is_extracted_as_the_tar(box):
    archive = hostile.tar_holding_a_zip(box / "corpus.tar")
    assert zipfile.is_zipfile(archive)  # what a zip-first sniff would believe
    target = extract_archive(archive, box / "target")
    assert (target / "corpus" / "real.txt").read_text() == "from the tar"
    assert sorted(os.listdir(target)) == ["corpus", "inner.zip"]  # the zip stays a file


def test_unknown_format_is_an_error_naming_it(box):
    (box / "notes.tar.gz").write_bytes(b"plain text, not an archive" * 40)
    refused(box / "notes.tar.gz", box / "target", "not an archive", error=DownloadError)


def test_truncated_archive_is_an_error_leaving_nothing(box):
    archive = write_tar(box / "cut.tar.gz", [member("a.bin", os.urandom(300_000))])
    archive.write_bytes(archive.read_bytes()[:-2000])
    refused(archive, box / "target", r"cut\.tar\.gz: cannot extract", error=DownloadError)


@pytest.mark.parametrize("builder", [hostile.gzip_bomb, hostile.zip_bomb])
def test_expansion_ratio_is_capped(box, builder):
    archive = builder(box / "bomb", 8 << 20)  # 8 MiB of zeros in about 8 kB
    refused(archive, box / "target", "max_ratio=2", max_ratio=2)


def test_total_size_is_capped_counting_every_member(box):
    members = [member(f"part{index}.bin", os.urandom(40_000)) for index in range(3)]
    archive = write_tar(box / "big.tar", members, compression="")
    refused(archive, box / "target", "'part2.bin'.*max_bytes=100,000", max_bytes=100_000)
    assert extract_archive(archive, box / "target", max_bytes=120_000).is_dir()


def test_existing_target_gets_its_entries_replaced_and_survives_a_refusal(box):
    target = box / "target"
    (target / "corpus").mkdir(parents=True)
    (target / "corpus" / "old.txt").write_text("old")
    (target / "keep.txt").write_text("kept")
    archive = write_tar(box / "new.tar.gz", [member("corpus/new.txt", b"new")])
    extract_archive(archive, target)
    assert sorted(os.listdir(target)) == ["corpus", "keep.txt"]
    assert os.listdir(target / "corpus") == ["new.txt"]
    evil = write_tar(box / "evil.tar.gz", [member("corpus/x.txt", b"x"), member("../e", b"e")])
    before = snapshot(box)
    with pytest.raises(UnsafeArchiveError):
        extract_archive(evil, target)
    assert snapshot(box) == before


def test_default_caps_are_the_documented_ones():
    page = (REPO_ROOT / "docs" / "reliability.md").read_text()
    section = page.split("## Archives")[1].split("\n## ")[0]
    assert archive_module.MAX_EXTRACTED_BYTES == 256 << 30
    assert archive_module.MAX_EXPANSION_RATIO == 20
    assert archive_module.RATIO_FLOOR_BYTES == 1 << 20
    assert "`max_bytes` (default 256 GiB)" in section
    assert "`max_ratio` (default 20)" in section
    assert "1 MiB" in section


def test_the_cap_counts_bytes_as_written_not_as_declared(box):
    """tarfile and zipfile stop at a member's declared size; the count does not rely on it."""
    budget = archive_module._Budget(box / "victim.txt", max_bytes=1000, max_ratio=1e9)
    writer = archive_module._Writer(box / "victim.txt", box, budget)
    budget.expect("liar.bin", 10)  # the header says 10 bytes...
    with pytest.raises(UnsafeArchiveError, match="'liar.bin' takes the extracted size past"):
        writer.file(PurePosixPath("liar.bin"), io.BytesIO(bytes(5000)), executable=False)
