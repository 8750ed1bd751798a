"""Mozilla Common Voice: `<split>.tsv` (client_id, path, sentence, ...) and `clips/<path>` mp3."""

import csv
import io
from pathlib import Path
from typing import Any

from src.datasets.base_dataset import BaseDataset, IndexEntry
from src.utils.files import read_text

REQUIRED_COLUMNS = ("client_id", "path", "sentence")


def read_tsv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row of a tab-separated file with a header line."""
    if not path.is_file():
        raise FileNotFoundError(f"Common Voice file not found: {path}")
    # Sentences hold unbalanced quotes: no quoting at all, only the tab delimiter.
    file = io.StringIO(read_text(path), newline="")
    reader = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing} in its header {reader.fieldnames}")
    return [(line_number, row) for line_number, row in enumerate(reader, start=2)]


def read_clip_durations(path: Path) -> dict[str, float]:
    """Clip file name -> seconds, from `clip_durations.tsv` (newer releases; ms per clip)."""
    if not path.is_file():
        return {}
    rows = read_tsv(path, ("clip", "duration[ms]"))
    try:
        return {row["clip"]: float(row["duration[ms]"]) / 1000 for _, row in rows}
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: bad duration ({error})") from error


def index_common_voice(data_dir: str | Path, split: str) -> list[IndexEntry]:
    data_dir = Path(data_dir)
    tsv = data_dir / f"{split}.tsv"
    durations = read_clip_durations(data_dir / "clip_durations.tsv")
    index = []
    for line_number, row in read_tsv(tsv, REQUIRED_COLUMNS):
        clip = row["path"]
        utterance_id = Path(clip).stem
        if not (row["sentence"] or "").strip():
            raise ValueError(f"{tsv}:{line_number}: no transcript for utterance {utterance_id}")
        index.append(
            {
                "id": utterance_id,
                "path": str(data_dir / "clips" / clip),
                "text": row["sentence"],
                "duration": durations.get(clip),  # None: read from the file's header
                "speaker": row["client_id"],
                "location": f"{tsv}:{line_number}",
            }
        )
    return index


class CommonVoiceDataset(BaseDataset):
    """One split of a Common Voice language folder (`data_dir` holds the tsv files and clips/):
    "train", "dev", "test", "validated", "other", ... as the release names its tsv files.
    Durations come from `clip_durations.tsv` when the release has it, else from each clip's
    header. Other keyword arguments go to `BaseDataset`."""

    def __init__(self, data_dir: str | Path, split: str = "train", **kwargs: Any) -> None:
        super().__init__(index_common_voice(data_dir, split), **kwargs)
