"""Checkpoints: written atomically, read as untrusted input (`weights_only=True`)."""

from pathlib import Path
from typing import Any

import torch

from src.utils.files import atomic_output


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write through `atomic_output`: a kill or a full disk mid-save leaves the previous
    checkpoint at `path` intact."""
    path = Path(path)
    with atomic_output(path) as temporary:
        torch.save(state, temporary)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with `weights_only=True`: tensors and plain containers only, no pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise RuntimeError(f"{path}: not a readable checkpoint ({error})") from error
