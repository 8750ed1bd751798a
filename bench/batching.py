"""Padding and training throughput of random, length-bucketed and dynamic batches, in one run.

    python -m bench.batching [--steps 6] [--rounds 2] [--max-batch-seconds 80] [--threads 2]

On the synthetic corpus's train split (data/synthetic, when generated) or else the shared AN4
manifest (--manifest to choose), each batching of configs/dataloader/ feeds its own copy of the
CPU recipe (configs/deepspeech2_cpu.yaml: DeepSpeech2, 64 log-mel features, its mixed precision;
no augmentation, so only the batching differs). Reports, per batching, the padding fraction of
a whole epoch (padded audio samples that are padding, from the durations) and the training
throughput over `steps` real optimizer steps each, data loading included: audio seconds per
wall-clock second, and per CPU second of this process (less sensitive to other processes on a
busy machine). The batchings take turns in `rounds` blocks so that such load spreads over all
three.
"""

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from src.datasets.loaders import BatchStream, build_dataloaders
from src.model import build_model
from src.trainer.pipeline import Batch, BatchPipeline
from src.trainer.setup import model_output_length
from src.transforms.features import build_features
from src.utils.runtime import resolve_amp

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = [
    REPO_ROOT / "data/synthetic/train.jsonl",
    REPO_ROOT / "../shared/data/an4/manifest.jsonl",
]
BATCHINGS = ("random", "bucketed", "dynamic")
CPU = torch.device("cpu")


@dataclass
class Run:
    """One batching's loader, model and optimizer, and what its timed steps consumed."""

    name: str
    loader: DataLoader
    pipeline: BatchPipeline
    optimizer: torch.optim.Optimizer
    criterion: torch.nn.Module
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    audio_seconds: float = 0.0
    steps: int = 0
    batches: Iterator[Batch] | None = None

    def next_batch(self) -> Batch:
        if self.batches is None:
            self.batches = BatchStream(self.loader)  # pass after pass, as the trainer draws
        return next(self.batches)

    @property
    def throughput(self) -> float:
        """Audio seconds trained on per wall-clock second."""
        return self.audio_seconds / self.seconds

    @property
    def cpu_throughput(self) -> float:
        """Audio seconds trained on per CPU second of this process."""
        return self.audio_seconds / self.cpu_seconds

    def step(self, timed: bool = True) -> None:
        start, cpu_start = time.perf_counter(), time.process_time()
        batch = self.next_batch()
        self.optimizer.zero_grad(set_to_none=True)
        batch = self.pipeline.forward(batch, train=True)
        self.criterion(**batch)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.pipeline.model.parameters(), 400)
        self.optimizer.step()
        if timed:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu_start
            self.audio_seconds += batch["audio_length"].sum().item() / 16000
            self.steps += 1


def padding_fraction(loader: DataLoader) -> tuple[float, int, float]:
    """Padding share of the audio samples of one epoch's batches, the batch count, and the mean
    batch size (from the durations; no audio is read)."""
    durations = loader.dataset.durations()
    batches = loader.batch_sampler.batches(0)
    padded = sum(len(batch) * max(durations[i] for i in batch) for batch in batches)
    real = sum(durations[i] for batch in batches for i in batch)
    return 1 - real / padded, len(batches), sum(map(len, batches)) / len(batches)


def build_run(name: str, manifest: Path, args: argparse.Namespace) -> Run:
    overrides = [
        f"dataloader={name}",
        f"dataloader.batch_size={args.batch_size}",
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        "transforms=logmel",
        "transforms.features.n_mels=64",
    ]
    if name == "dynamic":
        overrides.append(
            f"dataloader.train_batch_sampler.max_batch_seconds={args.max_batch_seconds}"
        )
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("deepspeech2_cpu", overrides=overrides)
    torch.manual_seed(0)  # the same initial weights for every batching
    text_encoder = instantiate(cfg.text_encoder)
    features = build_features(cfg.transforms.features)
    model = build_model(cfg.model, features.n_feats, len(text_encoder))
    (loader,) = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        text_encoder,
        ["train"],
        train_partition="train",
        output_length=model_output_length(model, features),
        seed=0,
    ).values()
    return Run(
        name=name,
        loader=loader,
        pipeline=BatchPipeline(model, features, CPU, resolve_amp(cfg.trainer.amp, CPU)),
        optimizer=instantiate(cfg.optimizer, params=model.parameters()),
        criterion=instantiate(cfg.loss_function),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per batching")
    parser.add_argument("--rounds", type=int, default=2, help="turns the steps are split into")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per batching")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batch-seconds", type=float, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--manifest", type=Path, help="default: synthetic train, else AN4")
    args = parser.parse_args()
    manifest = args.manifest or next((path for path in MANIFESTS if path.is_file()), None)
    if manifest is None:
        raise SystemExit("no data: generate the corpus (`make corpus`) or pass --manifest")
    torch.set_num_threads(args.threads)
    runs = [build_run(name, manifest, args) for name in BATCHINGS]
    print(f"{manifest.resolve()}: {len(runs[0].loader.dataset)} training utterances")
    print(f"batch size {args.batch_size}; dynamic: <= {args.max_batch_seconds:g} s padded audio")
    paddings = {run.name: padding_fraction(run.loader) for run in runs}
    for run in runs:
        for _ in range(args.warmup):
            run.step(timed=False)
    per_round = -(-args.steps // args.rounds)
    for _ in range(args.rounds):
        for run in runs:
            for _ in range(min(per_round, args.steps - run.steps)):
                run.step()
    amp = runs[0].pipeline.amp
    print(f"{args.steps} timed steps each, {args.threads} threads, CPU recipe model, amp {amp}")
    header = f"{'batching':<10}{'padding':>9}{'batches':>9}{'mean size':>11}{'s/step':>8}"
    print(
        header + f"{'audio s/step':>14}{'audio s/s':>11}{'ratio':>7}{'per CPU s':>11}{'ratio':>7}"
    )
    random_run = runs[0]
    for run in runs:
        padding, n_batches, mean_size = paddings[run.name]
        print(
            f"{run.name:<10}{padding:>9.1%}{n_batches:>9}{mean_size:>11.1f}"
            f"{run.seconds / run.steps:>8.2f}{run.audio_seconds / run.steps:>14.1f}"
            f"{run.throughput:>11.1f}{run.throughput / random_run.throughput:>6.2f}x"
            f"{run.cpu_throughput:>11.1f}{run.cpu_throughput / random_run.cpu_throughput:>6.2f}x"
        )


if __name__ == "__main__":
    main()
