"""A dataset over a JSONL manifest: one {"path", "duration", "text"[, "id"]} object per line."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.datasets.base_dataset import BaseDataset, IndexEntry


def read_manifest(manifest_path: str | Path, root: str | Path | None = None) -> list[IndexEntry]:
    """Parse a manifest; relative paths resolve against `root` (default: the manifest's folder)."""
    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise FileNotFoundError(f"manifest not found: {manifest_path}")
    root = Path(root) if root is not None else manifest_path.parent
    index = []
    with manifest_path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                path = root / record["path"]
                entry = {
                    "id": record.get("id", Path(record["path"]).stem),
                    "path": str(path),
                    "text": record["text"],
                    "duration": float(record["duration"]),
                    "speaker": record.get("speaker"),
                }
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"{manifest_path}:{line_number}: bad manifest line ({error!r})"
                ) from error
            index.append(entry)
    return index


def select_speakers(
    index: list[IndexEntry],
    speakers: Sequence[str] | None = None,
    exclude_speakers: Sequence[str] | None = None,
) -> list[IndexEntry]:
    """Keep only `speakers` (if given) and drop `exclude_speakers`: speaker-disjoint splits."""
    if speakers is None and not exclude_speakers:
        return index
    known = {entry["speaker"] for entry in index}
    unknown = sorted((set(speakers or []) | set(exclude_speakers or [])) - known)
    if unknown:
        raise ValueError(f"speakers not in the manifest: {unknown}")
    return [
        entry
        for entry in index
        if (speakers is None or entry["speaker"] in speakers)
        and entry["speaker"] not in (exclude_speakers or [])
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
