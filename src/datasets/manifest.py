"""A dataset over a JSONL manifest: one {"path", "duration", "text"[, "id"]} object per line."""

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.datasets.base_dataset import BaseDataset, IndexEntry
from src.utils.files import read_text


def iter_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line` location, object) for each non-blank line of a JSONL file; a line that is
    not a JSON object is a `ValueError` naming its location."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    lines = io.StringIO(read_text(path), newline=None)  # universal newlines, as open() reads
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        location = f"{path}:{line_number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{location}: bad manifest line ({error!r})") from error
        if not isinstance(record, dict):
            raise ValueError(f"{location}: bad manifest line (not a JSON object)")
        yield location, record


def read_manifest(manifest_path: str | Path, root: str | Path | None = None) -> list[IndexEntry]:
    """Parse a manifest; relative paths resolve against `root` (default: the manifest's folder).
    Each entry's `location` is its `file:line`."""
    manifest_path = Path(manifest_path)
    root = Path(root) if root is not None else manifest_path.parent
    index = []
    for location, record in iter_jsonl(manifest_path):
        try:
            index.append(
                {
                    "id": record.get("id", Path(record["path"]).stem),
                    "path": str(root / record["path"]),
                    "text": record["text"],
                    "duration": float(record["duration"]),
                    "speaker": record.get("speaker"),
                    "location": location,
                }
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{location}: bad manifest line ({error!r})") from error
    return index


def held_out_speakers(dataset_config: str | Path) -> list[str]:
    """Speakers a dataset config keeps away from training: `train.exclude_speakers` plus the
    `speakers` of every other partition (e.g. configs/datasets/an4_dev_split.yaml)."""
    config = OmegaConf.load(dataset_config)
    train = config.get("train")
    if train is None or not train.get("exclude_speakers"):
        raise ValueError(f"{dataset_config}: no train.exclude_speakers to leave out")
    speakers = set(train.exclude_speakers)
    for name, partition in config.items():
        if name != "train" and isinstance(partition, DictConfig) and partition.get("speakers"):
            speakers.update(partition.speakers)
    return sorted(map(str, speakers))


def select_speakers(
    index: list[IndexEntry],
    speakers: Sequence[str] | None = None,
    exclude_speakers: Sequence[str] | None = None,
) -> list[IndexEntry]:
    """Keep only `speakers` (if given) and drop `exclude_speakers`: speaker-disjoint splits.
    Speakers compare as text, so `301` on the command line matches `"speaker": 301`."""
    if speakers is None and not exclude_speakers:
        return index
    chosen = None if speakers is None else {str(speaker) for speaker in speakers}
    excluded = {str(speaker) for speaker in exclude_speakers or []}
    known = {str(entry["speaker"]) for entry in index}
    unknown = sorted(((chosen or set()) | excluded) - known)
    if unknown:
        raise ValueError(f"speakers not in the manifest: {unknown}")
    return [
        entry
        for entry in index
        if (chosen is None or str(entry["speaker"]) in chosen)
        and str(entry["speaker"]) not in excluded
    ]


class ManifestDataset(BaseDataset):
    """`speakers` / `exclude_speakers` select by the manifest's `speaker` field."""

    def __init__(
        self,
        manifest_path: str | Path,
        root: str | Path | None = None,
        speakers: Sequence[str] | None = None,
        exclude_speakers: Sequence[str] | None = None,
        **kwargs: Any,
    ):
        index = select_speakers(read_manifest(manifest_path, root), speakers, exclude_speakers)
        super().__init__(index, **kwargs)
