"""A dataset over a JSONL manifest: one {"path", "duration", "text"[, "id"]} object per line."""

import json
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
                }
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"{manifest_path}:{line_number}: bad manifest line ({error!r})"
                ) from error
            index.append(entry)
    return index


class ManifestDataset(BaseDataset):
    def __init__(self, manifest_path: str | Path, root: str | Path | None = None, **kwargs: Any):
        super().__init__(read_manifest(manifest_path, root), **kwargs)
