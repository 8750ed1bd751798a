"""Fetching files over HTTP(S): resumable, checksum-verified, with a progress bar. Used by the
corpus downloaders, the LM downloader and the model registry (archives: `src.utils.archive`).

    path = download(url, "data/dev-clean.tar.gz", checksum="md5:42e2234b...")
"""

import hashlib
import logging
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from src.utils.files import atomic_output

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
ALGORITHMS = ("md5", "sha1", "sha256")


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL and the reason."""


class ChecksumError(DownloadError):
    """A fetched or local file does not match its expected checksum."""


def parse_checksum(checksum: str) -> tuple[str, str]:
    """'md5:abc...' -> ('md5', 'abc...'); the algorithm is one of `ALGORITHMS`."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ALGORITHMS or not digest:
        raise ValueError(
            f"checksum must look like '<{'|'.join(ALGORITHMS)}>:<hex>', got {checksum!r}"
        )
    return algorithm, digest.lower()


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | Path, checksum: str | None) -> bool:
    """True when `path` matches `checksum` ('algo:hex'); no checksum verifies any file."""
    if checksum is None:
        return True
    algorithm, expected = parse_checksum(checksum)
    return file_digest(path, algorithm) == expected


def _fetch(url: str, partial: Path, timeout: float, show_progress: bool) -> None:
    """Append the rest of `url` to `partial`, asking for the missing range when it has bytes."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ctc-asr"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to send: the partial file is whole
            return
        raise
    with response:
        if offset and response.status != 206:  # the server ignored the range: start over
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        mode = "ab" if offset else "wb"
        with (
            partial.open(mode) as file,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1])).name,
                disable=not show_progress,
            ) as progress,
        ):
            while chunk := response.read(CHUNK_BYTES):
                file.write(chunk)
                progress.update(len(chunk))
    if total is not None and partial.stat().st_size < total:
        raise DownloadError(
            f"{url}: connection closed after {partial.stat().st_size} of {total} bytes"
        )


def download(
    url: str,
    destination: str | Path,
    checksum: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    show_progress: bool = True,
) -> Path:
    """Fetch `url` to `destination` unless a file matching `checksum` is already there.

    Bytes go to `<destination>.part` first; an interrupted fetch resumes from there with an
    HTTP Range request (a server that ignores it sends the whole file again). The finished file
    is verified against `checksum` ('md5:<hex>', 'sha256:<hex>', ...): a mismatch discards it
    and fetches again, up to `retries` attempts, then raises `ChecksumError`. Only a verified
    file is renamed into place.
    """
    destination = Path(destination)
    if destination.is_file():
        if verify(destination, checksum):
            return destination
        logger.warning("%s does not match %s: fetching it again", destination, checksum)
        destination.unlink()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    problem = "no attempt made"
    for attempt in range(1, retries + 1):
        try:
            _fetch(url, partial, timeout, show_progress)
        except (urllib.error.URLError, OSError, DownloadError) as error:
            problem = f"attempt {attempt}/{retries}: {error}"
            logger.warning("%s: %s", url, problem)
            if isinstance(error, urllib.error.HTTPError) and error.code in (403, 404, 410):
                break
            time.sleep(min(2 ** (attempt - 1), 10) if attempt < retries else 0)
            continue
        if verify(partial, checksum):
            partial.replace(destination)
            logger.info("downloaded %s -> %s", url, destination)
            return destination
        problem = f"attempt {attempt}/{retries}: checksum mismatch (expected {checksum})"
        logger.warning("%s: %s; discarding it", url, problem)
        partial.unlink()
    if problem.endswith(f"(expected {checksum})"):
        raise ChecksumError(f"{url}: {problem}")
    raise DownloadError(f"cannot download {url}: {problem}")


def fetch(source: str, destination: str | Path, checksum: str | None = None) -> Path:
    """`download` for an http(s)/file URL; a local path is copied the same way: a verified
    copy already at `destination` is kept, otherwise it is written through a `.part` file."""
    if source.startswith(("http://", "https://", "file://")):
        return download(source, destination, checksum)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    destination = Path(destination)
    if destination.resolve() != path.resolve() and destination.is_file():
        if verify(destination, checksum):
            return destination
        logger.warning("%s does not match %s: copying it again", destination, checksum)
        destination.unlink()  # as `download` does: a stale file never outlives a failed fetch
    if not verify(path, checksum):
        raise ChecksumError(f"{path}: does not match {checksum}")
    if destination.resolve() == path.resolve():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(destination) as partial:
        shutil.copyfile(path, partial)
    return destination
