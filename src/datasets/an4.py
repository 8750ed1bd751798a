"""AN4 (the CMU census database) as CMU distributes it: headerless 16-bit big-endian 16 kHz PCM,
converted once to `data_dir/{train,test}/<utterance_id>.flac` and indexed per part."""

import json
import logging
import re
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import soundfile as sf
from filelock import FileLock

from src.datasets.base_dataset import BaseDataset, IndexEntry, index_duration
from src.datasets.manifest import select_speakers
from src.datasets.preparation import cached_index, fetch_and_extract
from src.utils.download import DownloadError
from src.utils.files import read_text

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://www.speech.cs.cmu.edu/databases/an4"
ARCHIVE = "an4_raw.bigendian.tar.gz"
SAMPLE_RATE = 16000
PARTS = ("train", "test")
COMPLETE = ".complete"  # written last: a folder without it is prepared again
# In the archive, under an4/: the audio folder of each part and the lists describing it.
WAV_FOLDERS = {"train": "wav/an4_clstk", "test": "wav/an4test_clstk"}
LISTS = tuple(f"etc/an4_{part}.{kind}" for part in PARTS for kind in ("transcription", "fileids"))
_TRANSCRIPTION_LINE = re.compile(r"<s>(.*)</s>\s*\(([^()\s]+)\)")


def read_transcription(path: Path) -> dict[str, str]:
    """Utterance id -> text from lines like `<s> YES </s> (an251-fash-b)`."""
    texts: dict[str, str] = {}
    lines = read_text(path).splitlines()
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = _TRANSCRIPTION_LINE.fullmatch(line.strip())
        if match is None or not match.group(1).strip():
            raise ValueError(f"{path}:{line_number}: expected '<s> TEXT </s> (id)', got {line!r}")
        text, utterance_id = match.group(1).strip(), match.group(2)
        if utterance_id in texts:
            raise ValueError(f"{path}:{line_number}: {utterance_id} transcribed twice")
        texts[utterance_id] = text
    return texts


def read_part(etc_dir: Path, part: str) -> list[dict[str, str]]:
    """The part's utterances in `.fileids` order: id, fileid (`an4_clstk/<speaker>/<id>`),
    speaker and text."""
    texts = read_transcription(etc_dir / f"an4_{part}.transcription")
    fileids_path = etc_dir / f"an4_{part}.fileids"
    utterances, seen = [], set()
    for fileid in read_text(fileids_path).split():
        if fileid.startswith("/") or "\\" in fileid or ".." in PurePosixPath(fileid).parts:
            raise ValueError(f"{fileids_path}: file id {fileid!r} points outside the wav folder")
        utterance_id, speaker = PurePosixPath(fileid).name, PurePosixPath(fileid).parent.name
        if utterance_id not in texts:
            raise ValueError(
                f"{fileids_path}: utterance {utterance_id} has no line in an4_{part}.transcription"
            )
        if utterance_id in seen:
            raise ValueError(f"{fileids_path}: utterance {utterance_id} listed twice")
        seen.add(utterance_id)
        utterances.append(
            {"id": utterance_id, "fileid": fileid, "speaker": speaker, "text": texts[utterance_id]}
        )
    return utterances


def convert_raw(raw: Path, flac: Path) -> None:
    """Headerless 16-bit big-endian mono PCM at 16 kHz -> 16-bit FLAC, samples unchanged."""
    data = raw.read_bytes()
    if not data or len(data) % 2:
        raise ValueError(f"{raw}: {len(data)} bytes is not 16-bit PCM audio")
    samples = np.frombuffer(data, dtype=">i2").astype(np.int16)
    sf.write(flac, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def _check_tree(staging: Path) -> None:
    missing = [
        name for name in (*WAV_FOLDERS.values(), *LISTS) if not (staging / "an4" / name).exists()
    ]
    if missing:
        raise DownloadError(f"the AN4 archive lacks an4/{', an4/'.join(missing)}")


def convert_tree(tree: Path, out: Path) -> None:
    """The extracted `an4/` tree -> `out/{train,test}/<id>.flac` and `out/etc/` (the lists)."""
    (out / "etc").mkdir(parents=True)
    for name in LISTS:
        shutil.copyfile(tree / name, out / name)
    for part in PARTS:
        (out / part).mkdir()
        for utterance in read_part(tree / "etc", part):
            raw = tree / "wav" / f"{utterance['fileid']}.raw"
            if not raw.is_file():
                raise FileNotFoundError(
                    f"AN4 {part}: no audio for utterance {utterance['id']}: {raw}"
                )
            convert_raw(raw, out / part / f"{utterance['id']}.flac")


def prepare(data_dir: Path, download: bool, base_url: str, checksum: str | None) -> None:
    """Download, extract and convert AN4 into `data_dir` unless that was completed before.

    Everything is built in staging folders and moved into place before the completion marker is
    written, so an interrupted preparation is redone from the start.
    """
    if (data_dir / COMPLETE).is_file():
        return
    url = f"{base_url.rstrip('/')}/{ARCHIVE}"
    if not download:
        raise FileNotFoundError(
            f"AN4 is not prepared in {data_dir} (no {data_dir / COMPLETE}); "
            f"set download=true to fetch {url}"
        )
    with FileLock(data_dir / ".lock"):
        if (data_dir / COMPLETE).is_file():  # another process finished it meanwhile
            return
        archive = data_dir / ARCHIVE
        staging = data_dir / ".extracted"  # the raw tree
        converted = data_dir / ".converted"  # the FLAC tree, moved into place when complete
        # No checksum of the archive is published, so the extracted tree's layout is checked.
        fetch_and_extract(url, archive, staging, checksum, _check_tree)
        shutil.rmtree(converted, ignore_errors=True)
        convert_tree(staging / "an4", converted)
        for name in (*PARTS, "etc"):
            shutil.rmtree(data_dir / name, ignore_errors=True)
            (converted / name).rename(data_dir / name)
        counts = {part: len(list((data_dir / part).glob("*.flac"))) for part in PARTS}
        (data_dir / COMPLETE).write_text(json.dumps({"source": url, "utterances": counts}))
        shutil.rmtree(staging)
        shutil.rmtree(converted)
        archive.unlink()
        logger.info("AN4 converted to FLAC in %s: %s", data_dir, counts)


def build_index(data_dir: Path, part: str) -> list[IndexEntry]:
    index = []
    for utterance in read_part(data_dir / "etc", part):
        flac = data_dir / part / f"{utterance['id']}.flac"
        if not flac.is_file():
            raise FileNotFoundError(
                f"AN4 {part}: no audio for utterance {utterance['id']}: {flac} "
                f"(delete {data_dir / COMPLETE} to prepare AN4 again)"
            )
        index.append(
            {
                "id": utterance["id"],
                "path": str(flac),
                "text": utterance["text"],
                "duration": index_duration(flac),
                "speaker": utterance["speaker"],
            }
        )
    return index


def index_part(data_dir: Path, part: str) -> list[IndexEntry]:
    """The part's index, built on first use and cached in `data_dir/<part>/index.json`."""
    lists = [data_dir / "etc" / f"an4_{part}.{kind}" for kind in ("transcription", "fileids")]
    sources = [*(data_dir / part).glob("*.flac"), *lists]
    return cached_index(
        data_dir / part / "index.json", sources, partial(build_index, data_dir, part)
    )


class AN4Dataset(BaseDataset):
    """AN4 `part` ("train": 948 utterances, 74 speakers; "test": 130, 10), prepared in
    `data_dir` on first use. `speakers` / `exclude_speakers` select speakers (e.g. a
    speaker-disjoint dev split of train). Other keyword arguments go to `BaseDataset`.

    `checksum` ('md5:<hex>', ...) pins the archive; CMU publishes none, so by default the
    archive is accepted when it extracts and holds the expected layout.
    """

    def __init__(
        self,
        part: str = "train",
        data_dir: str | Path = "data/an4",
        download: bool = True,
        base_url: str = DEFAULT_URL,
        checksum: str | None = None,
        speakers: Sequence[str] | None = None,
        exclude_speakers: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if part not in PARTS:
            raise ValueError(f"AN4 part must be one of {PARTS}, got {part!r}")
        data_dir = Path(data_dir)
        prepare(data_dir, download, base_url, checksum)
        index = select_speakers(index_part(data_dir, part), speakers, exclude_speakers)
        super().__init__(index, **kwargs)

    @classmethod
    def pending_downloads(
        cls, data_dir: str | Path = "data/an4", download: bool = True, **config: Any
    ) -> list[str]:
        """The AN4 archive, when it is not prepared in `data_dir` yet."""
        return [ARCHIVE] if download and not (Path(data_dir) / COMPLETE).is_file() else []
