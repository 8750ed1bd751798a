"""Shared fixtures: composed configs, the real speech under ../shared/data, tiny audio."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import src.trainer.config  # noqa: F401  (registers the typed config schemas)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# the CPU recipe has a wall-clock budget and a moving average; tests run a fixed number of steps
FIXED_LENGTH = ("trainer.max_minutes=null", "trainer.ema_decay=null")


def compose_config(name: str, *overrides: str) -> DictConfig:
    """`configs/<name>.yaml` composed with Hydra overrides, as the entry points compose it."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


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


def infer_a_tone(checkpoint: Path, folder: Path) -> subprocess.CompletedProcess:
    """`inference.py` with `checkpoint` on a folder holding one 0.5 s tone (`folder/audio`),
    writing into `folder/out`."""
    audio = folder / "audio"
    audio.mkdir()
    write_tone(audio / "a.wav", 0.5)
    return subprocess.run(
        [
            sys.executable,
            "inference.py",
            f"inferencer.from_pretrained={checkpoint}",
            "datasets=custom_dir",
            f"datasets.test.audio_dir={audio}",
            f"inferencer.save_path={folder / 'out'}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
