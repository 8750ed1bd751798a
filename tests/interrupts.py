"""Real training runs that are signalled, killed and resumed: shared by the trainer tests and
`bench/reliability.py`.

`python -m tests.interrupts [faults] -- OVERRIDES` runs `train.py` (as `__main__`, in this
process) with faults injected:

- `--signal NAME --at-step K`: the process sends SIGNAME (INT, TERM, KILL) to its process
  group (itself and its loader workers, as a Ctrl-C in a terminal or a cluster's pre-emption
  does) as training step K (counted over the run, from 1) begins, its batch already drawn;
- `--signal NAME --at-validation E:K`: ... as validation batch K of epoch E begins;
- `--slow-save SECONDS`: every checkpoint is written half, then after a pause the rest, so that
  a kill from outside can land in the middle of a save.

The parent side: `tone_corpus` (12 tones), `run_overrides` (a tiny model with every
augmentation on, probability 1, one loader worker, fp32, one thread: the conditions of
bit-exact resumes), `train` (a subprocess), `weights` and `differing`.
"""

import argparse
import io
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.conftest import REPO_ROOT, write_tone

WORDS = ["yes", "no", "up", "down", "left", "right"]
AUGMENTATIONS = ("speed", "pitch", "reverb", "noise", "band_pass", "gain")
TIMEOUT = 300  # seconds a run may take before the test gives up on it


def tone_corpus(folder: Path) -> Path:
    """12 tones of 0.3-0.85 s, each labelled with a word, and their JSONL manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, word in enumerate(WORDS * 2):
        path = write_tone(folder / f"{index}.wav", 0.3 + 0.05 * index, frequency=200 + 60 * index)
        lines.append({"path": path.name, "duration": 0.3 + 0.05 * index, "text": word})
    manifest = folder / "all.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return manifest


def run_overrides(manifest: Path, run_dir: Path, *extra: str) -> list[str]:
    """train.py overrides for a tiny run into `run_dir`: 3 epochs of 4 steps (passes of 3
    batches of 4 tones, so epochs and passes end apart), every augmentation of
    `logmel_augmented_full` and SpecAugment with probability 1, one loader worker."""
    return [
        "-cn=deepspeech2_cpu",
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        "model.rnn_layers=1",
        "model.rnn_hidden=16",
        "model.conv_channels=[4,4]",
        "transforms=logmel_augmented_full",
        *(f"transforms.probabilities.{name}=1.0" for name in AUGMENTATIONS),
        "dataloader.batch_size=4",
        "dataloader.num_workers=1",
        "writer=cometml",
        "trainer.n_epochs=3",
        "trainer.epoch_len=4",
        "trainer.log_step=2",
        "trainer.amp=off",
        "trainer.num_threads=1",
        f"trainer.save_dir={run_dir.parent}",
        f"trainer.run_name={run_dir.name}",
        *extra,
    ]


def train(
    overrides: list[str], *faults: str, wait: bool = True
) -> subprocess.CompletedProcess | subprocess.Popen:
    """`train.py OVERRIDES` in a subprocess, in a process group of its own, through this module
    (with `faults`); waits for it unless `wait` is false (then the running `Popen`, its output
    discarded)."""
    command = [sys.executable, "-m", "tests.interrupts", *faults, "--", *overrides]
    if not wait:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]


def differing(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> list[str]:
    """Names of the tensors that are not bit-identical (`torch.equal`), or missing on a side."""
    names = sorted(set(first) | set(second))
    return [
        name
        for name in names
        if name not in first or name not in second or not torch.equal(first[name], second[name])
    ]


# --- the child: train.py with faults ------------------------------------------------------


def signal_at_step(signum: int, step: int) -> None:
    from src.trainer.trainer import Trainer

    original = Trainer.train_step

    def train_step(self, batch):
        if self.step + 1 == step:
            os.killpg(os.getpgid(0), signum)
        return original(self, batch)

    Trainer.train_step = train_step


def signal_at_validation(signum: int, epoch: int, batch_number: int) -> None:
    from src.trainer.trainer import Trainer

    original = Trainer._has_items
    seen = [0]

    def has_items(self, batch):
        if self.validating and self.epoch == epoch:
            seen[0] += 1
            if seen[0] == batch_number:
                os.killpg(os.getpgid(0), signum)
        return original(self, batch)

    Trainer._has_items = has_items


def slow_saves(seconds: float) -> None:
    original = torch.save

    def save(state, path, *args, **kwargs):
        buffer = io.BytesIO()
        original(state, buffer, *args, **kwargs)
        data = buffer.getvalue()
        with open(path, "wb") as file:
            file.write(data[: len(data) // 2])
            file.flush()
            time.sleep(seconds)
            file.write(data[len(data) // 2 :])

    torch.save = save


def main() -> None:
    parser = argparse.ArgumentParser(description="train.py with injected faults")
    parser.add_argument("--signal", choices=["INT", "TERM", "KILL"])
    parser.add_argument("--at-step", type=int)
    parser.add_argument("--at-validation", help="EPOCH:BATCH")
    parser.add_argument("--slow-save", type=float)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.signal:
        signum = signal.Signals[f"SIG{args.signal}"]
        if args.at_step:
            signal_at_step(signum, args.at_step)
        else:
            epoch, batch_number = map(int, args.at_validation.split(":"))
            signal_at_validation(signum, epoch, batch_number)
    if args.slow_save:
        slow_saves(args.slow_save)
    script = str(REPO_ROOT / "train.py")
    sys.argv = [script, *args.overrides]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
