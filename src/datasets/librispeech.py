"""LibriSpeech (openslr.org/12): a user's copy, or the published archives downloaded, verified
and extracted; every part indexed once into `<part folder>/index.json`."""

import logging
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from filelock import FileLock

from src.datasets.base_dataset import BaseDataset, IndexEntry, index_duration
from src.datasets.preparation import cached_index, fetch_and_extract
from src.utils.download import DownloadError
from src.utils.files import read_text

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://www.openslr.org/resources/12"

# The MD5 sums openslr publishes in https://www.openslr.org/resources/12/md5sum.txt (the same
# values appear in PaddlePaddle DeepSpeech's data/librispeech/librispeech.py).
CHECKSUMS = {
    "dev-clean": "md5:42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "md5:c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "md5:32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "md5:fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "md5:2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "md5:c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "md5:d1a0fd59409feb2c614ce4d30c387708",
}
PARTS = tuple(CHECKSUMS)


def part_folders(part: str, data_dir: Path) -> tuple[Path, Path]:
    """Where a copy of `part` may be: the archive's layout first, then a bare part folder."""
    return data_dir / "LibriSpeech" / part, data_dir / part


def locate_part(part: str, data_dir: Path) -> Path | None:
    return next((folder for folder in part_folders(part, data_dir) if folder.is_dir()), None)


def _check_extracted(part: str, staging: Path) -> None:
    if not any((staging / "LibriSpeech" / part).glob("*/*/*.flac")):
        raise DownloadError(f"the {part} archive holds no LibriSpeech/{part}/*/*/*.flac")


def download_part(part: str, data_dir: Path, base_url: str) -> Path:
    """Fetch, verify and extract `part` to `data_dir/LibriSpeech/<part>`.

    The archive is extracted into a staging folder and its part folder renamed into place only
    once complete, so an interrupted extraction leaves no part folder and is simply redone.
    """
    with FileLock(data_dir / f".{part}.lock"):
        if (found := locate_part(part, data_dir)) is not None:  # another process finished it
            return found
        archive = data_dir / f"{part}.tar.gz"
        staging = data_dir / f".{part}.extracting"
        url = f"{base_url.rstrip('/')}/{part}.tar.gz"
        fetch_and_extract(url, archive, staging, CHECKSUMS[part], partial(_check_extracted, part))
        target = data_dir / "LibriSpeech" / part
        target.parent.mkdir(parents=True, exist_ok=True)
        for extracted in (staging / "LibriSpeech").iterdir():  # README, SPEAKERS.TXT, ...
            if extracted.name != part and not (target.parent / extracted.name).exists():
                extracted.rename(target.parent / extracted.name)
        (staging / "LibriSpeech" / part).rename(target)
        shutil.rmtree(staging)
        archive.unlink()
        logger.info("LibriSpeech %s extracted to %s", part, target)
        return target


def read_transcripts(part_dir: Path) -> dict[str, str]:
    """Utterance id -> text from every `<speaker>/<chapter>/*.trans.txt`."""
    texts: dict[str, str] = {}
    for transcript in sorted(part_dir.glob("*/*/*.trans.txt")):
        lines = read_text(transcript).splitlines()
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            utterance_id, _, text = line.strip().partition(" ")
            if not text.strip():
                raise ValueError(f"{transcript}:{line_number}: no text for {utterance_id}")
            if utterance_id in texts:
                raise ValueError(f"{transcript}:{line_number}: {utterance_id} transcribed twice")
            texts[utterance_id] = text.strip()
    return texts


def build_index(part_dir: Path) -> list[IndexEntry]:
    """Every `<speaker>/<chapter>/<id>.flac` with its transcript, duration and speaker."""
    texts = read_transcripts(part_dir)
    index = []
    for path in sorted(part_dir.glob("*/*/*.flac")):
        utterance_id = path.stem
        if utterance_id not in texts:
            raise ValueError(
                f"no transcript line for utterance {utterance_id} ({path}) in "
                f"{path.parent}/*.trans.txt"
            )
        index.append(
            {
                "id": utterance_id,
                "path": str(path),
                "text": texts[utterance_id],
                "duration": index_duration(path),
                "speaker": path.parent.parent.name,
            }
        )
    if not index:
        raise FileNotFoundError(f"no LibriSpeech audio (<speaker>/<chapter>/*.flac) in {part_dir}")
    unheard = len(texts) - len(index)
    if unheard:
        logger.warning("%s: %d transcribed utterances have no audio", part_dir, unheard)
    return index


def index_part(part_dir: Path) -> list[IndexEntry]:
    """The part's index, built on first use and cached in `<part_dir>/index.json`."""
    sources = [*part_dir.glob("*/*/*.flac"), *part_dir.glob("*/*/*.trans.txt")]

    def build() -> list[IndexEntry]:
        logger.info("indexing %s (%d files, once)", part_dir, len(sources))
        return build_index(part_dir)

    return cached_index(part_dir / "index.json", sources, build)


def load_part(part: str, data_dir: Path, download: bool, base_url: str) -> list[IndexEntry]:
    if part not in PARTS:
        raise ValueError(f"unknown LibriSpeech part {part!r}; expected one of {PARTS}")
    part_dir = locate_part(part, data_dir)
    if part_dir is None:
        if not download:
            expected = " or ".join(str(folder) for folder in part_folders(part, data_dir))
            raise FileNotFoundError(
                f"LibriSpeech {part} not found: expected {expected} (set download=true to fetch it)"
            )
        part_dir = download_part(part, data_dir, base_url)
    return index_part(part_dir)


class LibriSpeechDataset(BaseDataset):
    """One LibriSpeech part (e.g. "dev-clean") or several (a list) as one dataset.

    A part already under `data_dir/LibriSpeech/<part>` or `data_dir/<part>` is used as it is;
    otherwise, with `download`, `<base_url>/<part>.tar.gz` is fetched (resumable, checked
    against openslr's MD5) and extracted there. Other keyword arguments go to `BaseDataset`.
    """

    def __init__(
        self,
        part: str | Sequence[str],
        data_dir: str | Path = "data/librispeech",
        download: bool = True,
        base_url: str = DEFAULT_URL,
        **kwargs: Any,
    ) -> None:
        parts = [part] if isinstance(part, str) else list(part)
        index = []
        for name in parts:
            index += load_part(name, Path(data_dir), download, base_url)
        super().__init__(index, **kwargs)

    @classmethod
    def pending_downloads(
        cls,
        part: str | Sequence[str],
        data_dir: str | Path = "data/librispeech",
        download: bool = True,
        **config: Any,
    ) -> list[str]:
        """The parts that are not on disk and would be downloaded."""
        parts = [part] if isinstance(part, str) else list(part)
        return [name for name in parts if download and locate_part(name, Path(data_dir)) is None]
