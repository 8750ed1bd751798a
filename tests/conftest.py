"""Shared fixtures: the real speech under ../shared/data, and tiny audio folders."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` (real speech); tests using it skip where it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real speech data not found at {SHARED_DATA} (present in CI)")
    return SHARED_DATA


def write_tone(path: Path, seconds: float, sample_rate: int = 16000, frequency: float = 440.0):
    """A short sine wave file (the format follows the suffix)."""
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * frequency * time).astype(np.float32), sample_rate)
    return path
