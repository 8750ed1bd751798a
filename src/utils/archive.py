"""Extracting untrusted tar and zip archives, member by member, into a staging folder.

    extract_archive("data/dev-clean.tar.gz", "data/librispeech")

Corpus archives (LibriSpeech, AN4, LJ Speech, Common Voice) and source distributions hold only
regular files and folders, so that is all this accepts: no symlinks, hard links, devices,
fifos or sparse members, and every name must stay inside the target on its own (no absolute
path, drive letter, backslash, `..` or control character). Nothing relies on tarfile's
extraction filters. Extracted bytes are counted as they are written and capped.
"""

import lzma
import os
import re
import shutil
import tarfile
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from src.utils.download import DownloadError

# Defaults with a wide margin over every corpus: LibriSpeech train-other-500 is about 30 GB
# both compressed and extracted (flac does not compress), AN4's raw PCM about 2-4x, source
# code about 5x.
MAX_EXTRACTED_BYTES = 256 << 30  # 256 GiB in all
MAX_EXPANSION_RATIO = 20.0  # extracted bytes per archive byte...
RATIO_FLOOR_BYTES = 1 << 20  # ...counting an archive smaller than 1 MiB as 1 MiB
CHUNK_BYTES = 1 << 20
_MAGIC_TAR_COMPRESSION = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_DRIVE = re.compile(r"[A-Za-z]:")


class UnsafeArchiveError(DownloadError):
    """An archive holds a member it must not, or expands past a cap; nothing was extracted."""


def archive_format(archive: Path) -> str:
    """'tar:<gz|bz2|xz|>' or 'zip', from the leading magic bytes: a compressed stream or a
    ustar header is a tar (whatever it holds), `PK\\x03\\x04` at offset 0 is a zip."""
    with archive.open("rb") as file:
        head = file.read(512)
    for magic, compression in _MAGIC_TAR_COMPRESSION.items():
        if head.startswith(magic):
            return f"tar:{compression}"
    if head[257:262] == b"ustar":
        return "tar:"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    raise DownloadError(
        f"{archive}: not an archive this can extract (expected tar, tar.gz, tar.bz2, tar.xz "
        "or zip by their leading bytes)"
    )


def member_path(archive: Path, name: str) -> PurePosixPath:
    """The relative path a member name stands for; refuses one that could leave the target."""
    problem = None
    if not name:
        problem = "an empty name"
    elif any(unicodedata.category(char) == "Cc" for char in name):
        problem = "a control character"
    elif "\\" in name:
        problem = "a backslash"
    elif name.startswith("/"):
        problem = "an absolute path"
    elif _DRIVE.match(name):
        problem = "a drive letter"
    elif ".." in PurePosixPath(name).parts:
        problem = "a '..' component"
    if problem is not None:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has {problem}")
    return PurePosixPath(name)


class _Budget:
    """Bytes still allowed: `min(max_bytes, max_ratio * max(archive size, 1 MiB))`."""

    def __init__(self, archive: Path, max_bytes: int, max_ratio: float) -> None:
        size = archive.stat().st_size
        self.archive = archive
        self.limit = int(min(max_bytes, max_ratio * max(size, RATIO_FLOOR_BYTES)))
        self.written = 0
        self.why = (
            f"the cap of {self.limit:,} extracted bytes (max_bytes={max_bytes:,}; "
            f"max_ratio={max_ratio:g} x the archive's {size:,} bytes, counted as at least 1 MiB)"
        )

    def expect(self, name: str, size: int) -> None:
        """Refuse a member whose declared size alone would pass the cap, before writing it."""
        if self.written + size > self.limit:
            raise UnsafeArchiveError(f"{self.archive}: member {name!r} would pass {self.why}")

    def charge(self, name: str, count: int) -> None:
        """Count bytes as they are written (a header may lie about a member's size)."""
        self.written += count
        if self.written > self.limit:
            raise UnsafeArchiveError(
                f"{self.archive}: member {name!r} takes the extracted size past {self.why}"
            )


class _Writer:
    """Creates folders and files under a fresh `root`; never follows or makes a link."""

    def __init__(self, archive: Path, root: Path, budget: _Budget) -> None:
        self.archive, self.root, self.budget = archive, root, budget
        self.real_root = os.path.realpath(root)

    def _inside(self, relative: PurePosixPath) -> Path:
        path = self.root.joinpath(*relative.parts)
        parent = os.path.realpath(path.parent)
        if os.path.commonpath([parent, self.real_root]) != self.real_root:
            raise UnsafeArchiveError(f"{self.archive}: member {str(relative)!r} leaves the target")
        return path

    def folder(self, relative: PurePosixPath) -> None:
        if relative.parts:
            self._inside(relative).mkdir(mode=0o755, parents=True, exist_ok=True)

    def file(self, relative: PurePosixPath, source: IO[bytes], executable: bool) -> None:
        if not relative.parts:
            raise UnsafeArchiveError(f"{self.archive}: a file member has no name")
        self.folder(relative.parent)
        path = self._inside(relative)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            descriptor = os.open(path, flags, 0o755 if executable else 0o644)
        except FileExistsError as error:
            raise UnsafeArchiveError(
                f"{self.archive}: member {str(relative)!r} appears twice"
            ) from error
        with os.fdopen(descriptor, "wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                self.budget.charge(str(relative), len(chunk))
                out.write(chunk)


def _extract_tar(archive: Path, compression: str, writer: _Writer) -> None:
    with tarfile.open(archive, f"r|{compression}") as tar:
        for info in tar:
            relative = member_path(archive, info.name)
            kind = _tar_kind(info)
            if kind is not None:
                raise UnsafeArchiveError(
                    f"{archive}: member {info.name!r} is {kind}; corpus archives hold only "
                    "regular files and folders"
                )
            if info.isdir():
                writer.folder(relative)
                continue
            writer.budget.expect(info.name, info.size)
            writer.file(relative, tar.extractfile(info), executable=bool(info.mode & 0o100))


def _tar_kind(info: tarfile.TarInfo) -> str | None:
    """What makes a tar member unacceptable, or None for a plain file or folder."""
    if info.sparse is not None or any(key.startswith("GNU.sparse") for key in info.pax_headers):
        return "a sparse file"
    if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
        return None
    link = info.linkname if len(info.linkname) <= 60 else info.linkname[:57] + "..."
    kinds = {
        tarfile.SYMTYPE: f"a symlink (to {link!r})",
        tarfile.LNKTYPE: f"a hard link (to {link!r})",
        tarfile.CHRTYPE: "a character device",
        tarfile.BLKTYPE: "a block device",
        tarfile.FIFOTYPE: "a fifo",
        tarfile.GNUTYPE_SPARSE: "a sparse file",
    }
    return kinds.get(info.type, f"of tar type {info.type!r}")


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            relative = member_path(archive, info.filename)
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            if stat_kind := _zip_kind(info, mode):
                raise UnsafeArchiveError(
                    f"{archive}: member {info.filename!r} is {stat_kind}; corpus archives hold "
                    "only regular files and folders"
                )
            if info.is_dir():
                writer.folder(relative)
                continue
            writer.budget.expect(info.filename, info.file_size)
            with zipped.open(info) as source:  # checks the CRC at the end
                writer.file(relative, source, executable=bool(mode & 0o100))


def _zip_kind(info: zipfile.ZipInfo, mode: int) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted"
    kind = mode & 0o170000
    if kind in (0, 0o100000) or (kind == 0o040000 and info.is_dir()):
        return None
    return {0o120000: "a symlink"}.get(kind, f"not a regular file (mode {mode:o})")


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A fresh folder on the target's file system, removed unless its content was moved into
    `target`: a new target is the staging folder renamed; an existing one gets its top-level
    entries replaced by the extracted ones."""
    parent = target if target.is_dir() else target.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=parent))
    try:
        yield staging
        staging.chmod(0o755)
        if parent != target:
            staging.rename(target)
            return
        for entry in staging.iterdir():
            destination = target / entry.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            else:
                destination.unlink(missing_ok=True)
            entry.rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extract_archive(
    archive: str | Path,
    target: str | Path,
    max_bytes: int = MAX_EXTRACTED_BYTES,
    max_ratio: float = MAX_EXPANSION_RATIO,
) -> Path:
    """Extract a tar (plain, gz, bz2, xz) or zip `archive` into `target`; returns `target`.

    The format comes from the leading bytes. Members are written one by one into a staging
    folder next to (or, for an existing `target`, inside) the target and moved into place only
    when every member was accepted; on any refusal or error the staging folder is removed and
    `target` is as it was. Refused (`UnsafeArchiveError`, naming the member): links, devices,
    fifos, sparse members, names that are absolute or hold `..`, a backslash, a drive letter
    or a control character, a name given twice, and more than `min(max_bytes, max_ratio x
    max(archive size, 1 MiB))` extracted bytes, counted as written. A corrupt or truncated
    archive raises `DownloadError` naming it.
    """
    archive, target = Path(archive), Path(target)
    kind = archive_format(archive)
    budget = _Budget(archive, max_bytes, max_ratio)
    try:
        with _staging(target) as staging:
            writer = _Writer(archive, staging, budget)
            if kind == "zip":
                _extract_zip(archive, writer)
            else:
                _extract_tar(archive, kind.removeprefix("tar:"), writer)
    except UnsafeArchiveError:
        raise
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zlib.error,
        lzma.LZMAError,
        NotImplementedError,  # a zip compression method zipfile lacks
        EOFError,
        OSError,
    ) as error:
        raise DownloadError(f"{archive}: cannot extract ({error})") from error
    return target
