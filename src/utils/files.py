"""Writing files so that a reader only ever sees them complete."""

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
