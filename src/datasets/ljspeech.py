"""LJ Speech: `metadata.csv` (`id|raw text|normalized text`) and `wavs/<id>.wav`, one speaker."""

import csv
import io
import zlib
from pathlib import Path
from typing import Any

from src.datasets.base_dataset import BaseDataset, IndexEntry
from src.utils.audio import AUDIO_EXTENSIONS
from src.utils.files import read_text

PARTS = ("train", "val", "test", "all")


def read_metadata(path: Path) -> list[tuple[str, str, str]]:
    """(`file:line`, id, text) for each line: the normalized column, or the raw one when it is
    empty."""
    if not path.is_file():
        raise FileNotFoundError(f"LJ Speech metadata not found: {path}")
    rows = []
    # Texts hold unbalanced quotes: no quoting at all, only the "|" delimiter.
    file = io.StringIO(read_text(path), newline="")
    for line_number, row in enumerate(
        csv.reader(file, delimiter="|", quoting=csv.QUOTE_NONE), start=1
    ):
        if not row:
            continue
        if len(row) > 3:
            raise ValueError(f"{path}:{line_number}: expected id|raw text|normalized text")
        utterance_id, *texts = (column.strip() for column in row)
        text = next((text for text in reversed(texts) if text), None)
        if text is None:
            raise ValueError(f"{path}:{line_number}: no transcript for {utterance_id}")
        rows.append((f"{path}:{line_number}", utterance_id, text))
    return rows


def part_of(utterance_id: str, val_percent: float, test_percent: float) -> str:
    """A fixed part from a hash of the id, whatever else the corpus holds."""
    position = zlib.crc32(utterance_id.encode()) % 10_000 / 100  # in [0, 100)
    if position < test_percent:
        return "test"
    if position < test_percent + val_percent:
        return "val"
    return "train"


def find_audio(wavs_dir: Path, utterance_id: str) -> Path:
    """`wavs/<id>.wav`, or the same name with another audio extension (e.g. a FLAC copy)."""
    for extension in AUDIO_EXTENSIONS:
        path = wavs_dir / f"{utterance_id}{extension}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no audio for utterance {utterance_id}: {wavs_dir}/{utterance_id}.wav")


def index_ljspeech(
    data_dir: str | Path, part: str, val_percent: float, test_percent: float
) -> list[IndexEntry]:
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    data_dir = Path(data_dir)
    return [
        {
            "id": utterance_id,
            "path": str(find_audio(data_dir / "wavs", utterance_id)),
            "text": text,
            "duration": None,  # read from the file's header
            "speaker": "LJ",
            "location": location,
        }
        for location, utterance_id, text in read_metadata(data_dir / "metadata.csv")
        if part == "all" or part_of(utterance_id, val_percent, test_percent) == part
    ]


class LJSpeechDataset(BaseDataset):
    """One part of LJ Speech (22.05 kHz, read at `sample_rate`). LJ Speech has no official
    split: `part` "val" and "test" hold about `val_percent` and `test_percent` of the clips,
    chosen by a hash of the id (stable as the corpus grows), "train" the rest, "all" every clip.
    Other keyword arguments go to `BaseDataset`."""

    def __init__(
        self,
        data_dir: str | Path,
        part: str = "train",
        val_percent: float = 5.0,
        test_percent: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(index_ljspeech(data_dir, part, val_percent, test_percent), **kwargs)
