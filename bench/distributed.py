"""Data-parallel training throughput on this machine's CPU: `torchrun --nproc_per_node=2` of
`train.py` with one thread per process against one `train.py` process with two threads, the
same global batch (2 x B against 2B), model and data, in one run (rounds alternate the two).

    python -m bench.distributed [--model cpu|tiny] [--batch 8] [--seconds 2.5]
        [--epoch-len 5] [--rounds 2]

Each configuration is a real run of 2 epochs of `--epoch-len` steps on noise utterances of
`--seconds` s (random transcripts, a 2-utterance validation); its rate is that of epoch 2
(warm): the steps between the two epochs' `last.pth` saves in rank 0's `train.log`, whose
timestamps give the time, over it. `--model cpu` is `-cn=deepspeech2_cpu` as it is, `tiny`
its tiny sizes (a code check in seconds, no figure).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.trainer_overhead import CHARS_PER_SECOND, SAMPLE_RATE, SMOKE_MODEL, cpu_model

REPO_ROOT = Path(__file__).resolve().parents[1]
SAVED = re.compile(r"^\[([\d-]+ [\d:,]+)\].*saved checkpoint .*last\.pth \(epoch (\d+), step")


def noise_corpus(folder: Path, count: int, seconds: float) -> Path:
    """`count` noise utterances of `seconds` s with random lowercase transcripts: a manifest."""
    folder.mkdir()
    rng = np.random.default_rng(count)
    lines = []
    for index in range(count):
        path = folder / f"{index}.wav"
        sf.write(path, 0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE)), SAMPLE_RATE)
        text = "".join(rng.choice(list("abcdefghij "), int(CHARS_PER_SECOND * seconds))).strip()
        lines.append(json.dumps({"path": path.name, "duration": seconds, "text": text or "a"}))
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def epoch_seconds(log: Path) -> float:
    """Seconds from epoch 1's `last.pth` to epoch 2's in a `train.log`."""
    saved = {}
    for line in log.read_text().splitlines():
        match = SAVED.match(line)
        if match:
            saved[int(match[2])] = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
    return (saved[3] - saved[2]).total_seconds()  # (epoch N+1: the next one) after epochs 1, 2


def run(processes: int, batch: int, args: argparse.Namespace, folder: Path, name: str) -> float:
    """Utterances per second of epoch 2 of one run."""
    train, val = folder / "train" / "manifest.jsonl", folder / "val" / "manifest.jsonl"
    overrides = [
        "-cn=deepspeech2_cpu",
        "datasets=manifest",
        f"datasets.train.manifest_path={train}",
        f"datasets.val.manifest_path={val}",
        "transforms=logmel",
        "dataloader=random",
        f"dataloader.batch_size={batch}",
        "dataloader.num_workers=0",
        "writer=cometml",
        "trainer.n_epochs=2",
        "trainer.max_minutes=null",  # fixed lengths
        "trainer.ema_decay=null",
        "lr_scheduler.pct_start=0.3",  # a warm-up of at least one step in short runs
        f"trainer.epoch_len={args.epoch_len}",
        f"trainer.log_step={args.epoch_len}",
        "trainer.log_examples=0",
        "trainer.amp=off",
        f"trainer.num_threads={2 // processes}",
        f"trainer.save_dir={folder}",
        f"trainer.run_name={name}",
        *(SMOKE_MODEL if args.model == "tiny" else ()),
    ]
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    result = subprocess.run(
        [*launcher, "train.py", *overrides], cwd=REPO_ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return args.epoch_len * batch * processes / epoch_seconds(folder / name / "train.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["cpu", "tiny"], default="cpu")
    parser.add_argument("--batch", type=int, default=8, help="per process of the 2")
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--epoch-len", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"1 x 2 threads": [], "2 x 1 thread": []}
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        noise_corpus(folder / "train", 4 * args.batch, args.seconds)  # 2 global batches
        noise_corpus(folder / "val", 2, args.seconds)
        for round_ in range(args.rounds):
            rates["1 x 2 threads"].append(run(1, 2 * args.batch, args, folder, f"one_{round_}"))
            rates["2 x 1 thread"].append(run(2, args.batch, args, folder, f"two_{round_}"))
    print(
        f"-cn=deepspeech2_cpu ({args.model} model), global batch {2 * args.batch} x "
        f"{args.seconds:g} s, fp32, epoch 2 of {args.epoch_len} steps, {cpu_model()}"
    )
    for name, values in rates.items():
        print(f"{name:<14} utterances/s: " + " ".join(f"{value:7.2f}" for value in values))
    ratios = [two / one for one, two in zip(*rates.values(), strict=True)]
    print("2 processes / 1 process: " + " ".join(f"{ratio:.2f}" for ratio in ratios))


if __name__ == "__main__":
    main()
