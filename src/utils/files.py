"""Writing files so that a reader only ever sees them complete; reading text files that must
be UTF-8 with errors naming the line."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield `<path>.part` to write; it becomes `path` on success and is removed on failure,
    so `path` only ever exists complete."""
    partial = path.with_name(path.name + ".part")
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


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
