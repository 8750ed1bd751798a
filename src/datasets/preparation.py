"""Steps shared by the downloadable corpora: fetch and unpack an archive into a staging folder
and cache the utterance index next to the audio. (The processes preparing one corpus take
turns through a `filelock.FileLock` beside it.)
"""

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from src.datasets.base_dataset import IndexEntry
from src.utils.archive import extract_archive
from src.utils.download import DownloadError, download
from src.utils.files import atomic_output

logger = logging.getLogger(__name__)

INDEX_VERSION = 1


def fetch_and_extract(
    url: str,
    archive: Path,
    staging: Path,
    checksum: str | None = None,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Download `url` to `archive` and extract it into a fresh `staging` folder.

    The download resumes and is verified against `checksum` (see `download`). An archive that
    cannot be extracted, or whose extracted tree `check` rejects (by raising `DownloadError`),
    is deleted and fetched once more; a second failure raises. Nothing is indexed from it: the
    caller moves the finished tree out of `staging` only after this returns.
    """
    download(url, archive, checksum)  # retries on its own; its errors end here
    try:
        return _extract_checked(archive, staging, check)
    except DownloadError as error:
        logger.warning("%s; fetching %s again", error, url)
    download(url, archive, checksum)
    return _extract_checked(archive, staging, check)


def _extract_checked(archive: Path, staging: Path, check: Callable[[Path], None] | None) -> Path:
    """Extract into a fresh `staging`; on failure delete it and the archive, then re-raise."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        extract_archive(archive, staging)
        if check is not None:
            check(staging)
    except DownloadError:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
        raise
    return staging


def _signature(folder: Path, sources: Iterable[Path]) -> str:
    """Changes when a source file is added, removed, resized or modified."""
    digest = hashlib.sha256()
    for path in sorted(sources):
        stat = path.stat()
        relative = os.path.relpath(path, folder)
        digest.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_index(index_path: Path, signature: str) -> list[IndexEntry] | None:
    """The cached entries, or None when the file is missing, unreadable or stale."""
    try:
        cached = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("%s: unreadable index (%s); rebuilding it", index_path, error)
        return None
    if cached.get("version") != INDEX_VERSION or cached.get("signature") != signature:
        logger.info("%s is out of date; rebuilding it", index_path)
        return None
    folder = index_path.parent
    return [{**entry, "path": str(folder / entry["path"])} for entry in cached["utterances"]]


def _write_index(index_path: Path, signature: str, index: list[IndexEntry]) -> None:
    """Write through a temporary file and a rename: a reader never sees half an index."""
    folder = index_path.parent
    utterances = [
        {**entry, "path": str(Path(entry["path"]).relative_to(folder))} for entry in index
    ]
    payload = {"version": INDEX_VERSION, "signature": signature, "utterances": utterances}
    try:
        with atomic_output(index_path) as partial:
            partial.write_text(json.dumps(payload), encoding="utf-8")
    except OSError as error:  # e.g. a read-only copy of the corpus: index it again next time
        logger.warning("cannot cache the index at %s (%s)", index_path, error)


def cached_index(
    index_path: Path, sources: list[Path], build: Callable[[], list[IndexEntry]]
) -> list[IndexEntry]:
    """The entries cached at `index_path`, or `build()`, cached there, when it is missing or
    stale: `sources` (the files the index is made from) changed since it was written.

    Paths are stored relative to the index's folder, so a moved corpus keeps its index.
    """
    signature = _signature(index_path.parent, sources)
    index = _read_index(index_path, signature)
    if index is None:
        index = build()
        _write_index(index_path, signature, index)
    return index
