"""Fetching files over HTTP(S): resumable, checksum-verified, with a progress bar. Used by the
corpus downloaders, the LM downloader and the model registry (archives: `src.utils.archive`).

    path = download(url, "data/dev-clean.tar.gz", checksum="md5:42e2234b...")
"""

import hashlib
import http.client
import logging
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from src.utils.files import atomic_output

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}  # hex digits of each algorithm
ALGORITHMS = tuple(DIGEST_LENGTHS)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d+)")


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL and the reason."""


class ChecksumError(DownloadError):
    """A fetched or local file does not match its expected checksum."""


class UnconfirmedSizeError(DownloadError):
    """The server gave no size (no Content-Length, no Content-Range total) and no checksum was
    given: a body cut short would look whole, so the file is not kept."""


def parse_checksum(checksum: str) -> tuple[str, str]:
    """'md5:abc...' -> ('md5', 'abc...'): one of `ALGORITHMS` and a hex digest of its length."""
    algorithm, _, digest = str(checksum).partition(":")
    digest = digest.lower()
    length = DIGEST_LENGTHS.get(algorithm)
    if length is None or not re.fullmatch(f"[0-9a-f]{{{length}}}", digest):
        raise ValueError(
            f"checksum must look like '<{'|'.join(ALGORITHMS)}>:<hex digest>' "
            f"({', '.join(f'{name} {n} digits' for name, n in DIGEST_LENGTHS.items())}), "
            f"got {checksum!r}"
        )
    return algorithm, digest


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


def _discard(partial: Path, message: str) -> DownloadError:
    """Remove a partial file that cannot be resumed; the error to raise (it is retried)."""
    partial.unlink(missing_ok=True)
    return DownloadError(f"{message}; starting over")


def _expected_size(url: str, response, offset: int, partial: Path) -> tuple[int, int | None]:
    """(first byte of the body, size of the whole file or None) from the response headers.

    A 206 must start at `offset` and agree with its Content-Length and total; anything else
    discards the partial file (its bytes would be joined to the wrong ones)."""
    length = response.headers.get("Content-Length")
    if length is not None:
        if not length.strip().isdigit():
            raise DownloadError(f"{url}: bad Content-Length {length!r}")
        length = int(length)
    if response.status == 200:
        return 0, length
    if response.status != 206:
        raise DownloadError(f"{url}: unexpected HTTP status {response.status}")
    header = response.headers.get("Content-Range", "")
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise _discard(partial, f"{url}: a 206 with a bad Content-Range {header!r}")
    first, last, total = int(match[1]), int(match[2]), match[3]
    total = None if total == "*" else int(total)
    if (
        first != offset
        or last < first
        or (total is not None and last != total - 1)
        or (length is not None and length != last - first + 1)
    ):
        raise _discard(
            partial,
            f"{url}: asked for bytes from {offset}, got Content-Range {header!r} "
            f"with Content-Length {length}",
        )
    return offset, total


def _unsatisfiable(url: str, error: urllib.error.HTTPError, offset: int, partial: Path) -> None:
    """A 416 for the rest of a partial file: it is whole only if the server's size says so."""
    header = error.headers.get("Content-Range", "") if error.headers else ""
    match = _UNSATISFIED_RANGE.fullmatch(header.strip())
    if match is None or int(match[1]) != offset:
        raise _discard(
            partial,
            f"{url}: 416 for a partial file of {offset} bytes (Content-Range {header!r})",
        )


def _fetch(
    url: str, partial: Path, timeout: float, show_progress: bool, has_checksum: bool
) -> None:
    """Append the rest of `url` to `partial`, asking for the missing range when it has bytes;
    raises unless the file's size is confirmed (or `has_checksum` will judge it)."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ctc-asr"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            _unsatisfiable(url, error, offset, partial)
            return  # the partial file is whole
        raise
    with response:
        offset, total = _expected_size(url, response, offset, partial)
        if total is None and not has_checksum:
            partial.unlink(missing_ok=True)
            raise UnconfirmedSizeError(
                f"{url}: cannot confirm the download is complete: the server sent no "
                "Content-Length or Content-Range total, and no checksum was given (pass "
                "checksum='sha256:<hex>' to accept this server)"
            )
        with (
            partial.open("ab" if offset else "wb") as file,
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
            while chunk := response.read1(CHUNK_BYTES):  # writes what arrives, as it arrives
                file.write(chunk)
                progress.update(len(chunk))
    size = partial.stat().st_size
    if total is not None and size > total:
        raise _discard(partial, f"{url}: got {size} bytes, more than the {total} announced")
    if total is not None and size < total:
        raise DownloadError(f"{url}: connection closed after {size} of {total} bytes")


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
    HTTP Range request (a server that ignores it sends the whole file again; a 206 that does
    not start where asked, or disagrees with its own sizes, discards the partial file). The
    finished file must have the size the server announced (Content-Length, Content-Range
    total) and match `checksum` ('md5:<hex>', 'sha256:<hex>', ...; its syntax is checked
    before any request). With neither a size nor a checksum nothing is kept
    (`UnconfirmedSizeError`). Cut connections, protocol errors (bad status lines, bad
    lengths, incomplete chunked bodies) and mismatches are retried, up to `retries`
    attempts, then raise `DownloadError` (`ChecksumError` for a mismatch). Only a verified
    file is renamed into place.
    """
    if checksum is not None:
        parse_checksum(checksum)
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
            _fetch(url, partial, timeout, show_progress, has_checksum=checksum is not None)
        except UnconfirmedSizeError:
            raise
        except (urllib.error.URLError, OSError, http.client.HTTPException, DownloadError) as error:
            kind = "" if isinstance(error, DownloadError) else f"{type(error).__name__}: "
            problem = f"attempt {attempt}/{retries}: {kind}{str(error).strip()}"
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
