"""Writing files so that a reader only ever sees them complete, even after a crash; reading
text files that must be UTF-8 with errors naming the line."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


def temporary_files(folder: Path, name: str = "*") -> list[Path]:
    """The temporary files `atomic_output` leaves behind when a process is killed mid-write."""
    return sorted(Path(folder).glob(f".{name}.*{TEMPORARY_SUFFIX}"))


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (`.<name>.<random>.tmp`) to write. On success it is
    flushed to disk and renamed over `path`, and the rename itself is made durable; on any
    failure (a full disk, an exception, Ctrl-C) it is removed and `path` is left as it was. So
    `path` only ever exists complete: the old version or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        temporary.replace(path)
        _fsync_folder(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def read_text(path: str | Path) -> str:
    """The content of a UTF-8 text file; bytes that are not UTF-8 are a `ValueError` naming
    `path:line` and the byte (not a bare UnicodeDecodeError)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"{path}:{line}: not UTF-8 text (byte {data[error.start]:#04x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from error
