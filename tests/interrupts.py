"""Real training runs that are signalled, killed and resumed: shared by the trainer tests and
`bench/reliability.py`.

`python -m tests.interrupts [faults] -- OVERRIDES` runs `train.py` (as `__main__`, in this
process) with faults injected:

- `--signal NAME --at-step K`: the process sends SIGNAME (INT, TERM, KILL) to its process
  group (itself and its loader workers, as a Ctrl-C in a terminal or a cluster's pre-emption
  does) as training step K (counted over the run, from 1) begins, its batch already drawn;
- `--signal NAME --at-validation E:K`: ... as validation batch K of epoch E begins;
- `--slow-save SECONDS`: every checkpoint is written half, then after a pause the rest, so that
  a kill from outside can land in the middle of a save;
- `--fail raise|hang --at-step K`: training step K raises a RuntimeError, or hangs (sleeps);
- `--rank R`: under torchrun, the fault strikes rank R only (a signal reaches that process
  alone, not its group).

The parent side: `tone_corpus` (12 tones), `run_overrides` (a tiny model with every
augmentation on, probability 1, one loader worker, fp32, one thread: the conditions of
bit-exact resumes), `train` (a subprocess), `interrupted_and_resumed`, `checkpoint_tensors`
and `differing` to compare runs, and `KillChain`: one run SIGKILLed again and again.
"""

import argparse
import io
import json
import os
import random
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from src.trainer.trainer import Trainer
from src.utils.checkpoint import load_checkpoint
from src.utils.files import temporary_files
from tests.conftest import FIXED_LENGTH, REPO_ROOT, write_tone

WORDS = ["yes", "no", "up", "down", "left", "right"]
AUGMENTATIONS = ("speed", "pitch", "reverb", "noise", "band_pass", "gain")
TIMEOUT = 300  # seconds a run may take before the test gives up on it


def tone_corpus(folder: Path, seconds: float | None = None) -> Path:
    """12 tones of 0.3-0.85 s (or all of `seconds`), each labelled with a word, and their JSONL
    manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, word in enumerate(WORDS * 2):
        duration = 0.3 + 0.05 * index if seconds is None else seconds
        path = write_tone(folder / f"{index}.wav", duration, frequency=200 + 60 * index)
        lines.append({"path": path.name, "duration": duration, "text": word})
    manifest = folder / "all.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return manifest


def run_overrides(manifest: Path, run_dir: Path, *extra: str) -> list[str]:
    """train.py overrides for a tiny run into `run_dir`: 3 epochs of 4 steps (passes of 3
    batches of 4 tones, so epochs and passes end apart), every augmentation of
    `logmel_augmented_full` and SpecAugment with probability 1, one loader worker."""
    return [
        "-cn=deepspeech2_cpu",
        *FIXED_LENGTH,
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


def checkpoint_tensors(state: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a loaded checkpoint (weights, optimizer moments, generator states...),
    by dotted name."""
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if not isinstance(state, dict | list | tuple):
        return {}
    items = state.items() if isinstance(state, dict) else enumerate(state)
    found = {}
    for key, value in items:
        found.update(checkpoint_tensors(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


def final_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    return checkpoint_tensors(load_checkpoint(run_dir / "last.pth"))


@dataclass
class Resumed:
    """A run stopped by a fault, then resumed to its end."""

    exit_code: int  # of the first, faulted process
    saved: dict[str, Any]  # the checkpoint it left, which the resume started from
    final: dict[str, torch.Tensor]  # every tensor of the final last.pth
    log: str  # the first process's stderr tail, for failure messages


def interrupted_and_resumed(
    manifest: Path, run_dir: Path, faults: list[str], checkpoint: str
) -> Resumed:
    """`train` into `run_dir` with `faults`, then again with `trainer.resume_from` the
    `checkpoint` (e.g. `interrupted.pth`) it left, to the end."""
    first = train(run_overrides(manifest, run_dir), *faults)
    if not (run_dir / checkpoint).is_file():
        last_line = (first.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(
            f"{' '.join(faults)}: exit {first.returncode} and no {checkpoint} ({last_line})"
        )
    saved = load_checkpoint(run_dir / checkpoint)
    resume = f"trainer.resume_from={run_dir / checkpoint}"
    second = train(run_overrides(manifest, run_dir, resume))
    if second.returncode != 0:
        raise RuntimeError(f"the resumed run failed: {second.stderr[-3000:]}")
    return Resumed(first.returncode, saved, final_tensors(run_dir), first.stderr[-3000:])


def differing(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> list[str]:
    """Names of the tensors that are not bit-identical (`torch.equal`), or missing on a side."""
    names = sorted(set(first) | set(second))
    return [
        name
        for name in names
        if name not in first or name not in second or not torch.equal(first[name], second[name])
    ]


# --- SIGKILL after SIGKILL ----------------------------------------------------------------

CHAIN_EPOCH_LEN = 2  # steps; the chain's runs save last.pth after every epoch
SLOW_SAVE = 0.2  # seconds each save of the chain's runs takes, half written


def wait_for(condition: Callable[[], object], timeout: float = TIMEOUT) -> bool:
    """Poll `condition` every 5 ms until it holds (True) or `timeout` seconds passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.005)
    return False


def modified(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.is_file() else None


@dataclass
class Kill:
    """What one SIGKILL of `KillChain` left."""

    killed: bool  # False: the run had ended first
    in_save: list[str]  # the checkpoint temporaries being written when it struck
    step: int  # of the last.pth left
    readable: list[str]  # checkpoints of the run folder that load, whole (all of them?)
    unreadable: list[str]
    previous_left: int  # temporaries the kill before left...
    previous_removed: bool  # ...gone once the restarted run started


class KillChain:
    """One run (`run_overrides` with `epochs` epochs of `CHAIN_EPOCH_LEN` steps: every
    augmentation, one loader worker; saves slowed to `SLOW_SAVE`) SIGKILLed again and again,
    each time at a random moment, and restarted from its `last.pth`. `kill("saving")` strikes
    inside a checkpoint save, `kill("training")` anywhere within the next second; each waits
    for the restarted run to save once first (so the chain moves on). `finish()` lets the
    last restart run to the end."""

    def __init__(self, root: Path, epochs: int, seed: int = 0) -> None:
        self.manifest = tone_corpus(root / "tones")
        self.epochs = epochs
        self.root = root
        self.run_dir = root / "run"
        self.rng = random.Random(seed)
        self.left: list[Path] = []  # temporaries the latest kill left
        self.steps: list[int] = []  # of the last.pth each kill left

    def overrides(self, run_dir: Path) -> list[str]:
        last = run_dir / "last.pth"
        resume = [f"trainer.resume_from={last}"] if last.is_file() else []
        length = [f"trainer.n_epochs={self.epochs}", f"trainer.epoch_len={CHAIN_EPOCH_LEN}"]
        return run_overrides(self.manifest, run_dir, *length, *resume)

    def kill(self, moment: str) -> Kill:
        last, left = self.run_dir / "last.pth", self.left
        before = modified(last)
        process = train(self.overrides(self.run_dir), "--slow-save", str(SLOW_SAVE), wait=False)
        try:
            wait_for(lambda: modified(last) != before or process.poll() is not None)
            previous_removed = not any(path.exists() for path in left)
            if moment == "saving":
                wait_for(lambda: temporary_files(self.run_dir) or process.poll() is not None)
                time.sleep(self.rng.uniform(0, 0.8 * SLOW_SAVE))  # the save is seen late
            else:
                time.sleep(self.rng.uniform(0, 1.0))
            in_save = [path.name for path in temporary_files(self.run_dir)]
            killed = process.poll() is None
            if killed:
                os.killpg(process.pid, signal.SIGKILL)
        finally:
            process.wait()
        self.left = temporary_files(self.run_dir)
        readable, unreadable = [], []
        for path in sorted(self.run_dir.glob("*.pth")):
            try:
                state = load_checkpoint(path)
            except RuntimeError:
                unreadable.append(path.name)
            else:
                complete = all(key in state for key in Trainer.resume_keys)
                (readable if complete else unreadable).append(path.name)
        step = load_checkpoint(last)["step"] if "last.pth" in readable else -1
        self.steps.append(step)
        return Kill(killed, in_save, step, readable, unreadable, len(left), previous_removed)

    def finish(self) -> dict[str, torch.Tensor]:
        """Run the last restart to the end; every tensor of its final last.pth."""
        result = train(self.overrides(self.run_dir))
        if result.returncode != 0:
            raise RuntimeError(f"the last restart failed: {result.stderr[-3000:]}")
        return final_tensors(self.run_dir)

    def uninterrupted(self) -> dict[str, torch.Tensor]:
        """The same run without a fault: every tensor of its final last.pth."""
        run_dir = self.root / "uninterrupted"
        result = train(self.overrides(run_dir))
        if result.returncode != 0:
            raise RuntimeError(f"the uninterrupted run failed: {result.stderr[-3000:]}")
        return final_tensors(run_dir)


# --- the child: train.py with faults ------------------------------------------------------


def at_step(step: int, fault: Callable[[], None]) -> None:
    """`fault()` as training step `step` begins."""
    from src.trainer.trainer import Trainer

    original = Trainer.train_step

    def train_step(self, batch):
        if self.step + 1 == step:
            fault()
        return original(self, batch)

    Trainer.train_step = train_step


def signal_at_step(signum: int, step: int, group: bool = True) -> None:
    if group:
        at_step(step, lambda: os.killpg(os.getpgid(0), signum))
    else:
        at_step(step, lambda: os.kill(os.getpid(), signum))


def failure_at_step(kind: str, step: int) -> None:
    def fail() -> None:
        if kind == "hang":
            time.sleep(TIMEOUT)
        raise RuntimeError(f"injected failure at step {step}")

    at_step(step, fail)


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
    parser.add_argument("--fail", choices=["raise", "hang"])
    parser.add_argument("--rank", type=int)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.rank is not None and args.rank != int(os.environ.get("RANK", "0")):
        args.signal = args.fail = None
    if args.fail:
        failure_at_step(args.fail, args.at_step)
    if args.signal:
        signum = signal.Signals[f"SIG{args.signal}"]
        if args.at_step:
            signal_at_step(signum, args.at_step, group=args.rank is None)
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
