"""The trainer's own cost per training step: `Trainer.train_epoch` against a bare PyTorch loop
(features, forward, CTC loss, backward, gradient clipping, optimizer step) on the same model,
the same batches and the same threads, in one run (rounds alternate the two).

    python -m bench.trainer_overhead [--presets cpu paper] [--threads 2] [--steps 20]
        [--rounds 3] [--log-step 10] [--paper-seconds 0.5] [--amp auto] [--smoke]

Both loops take the same pre-collated batches from memory, so data loading is not measured.
The trainer is the one `train.py` builds (`build_trainer` on a two-file manifest, then its
training stream swapped for those batches) with everything it does per step: the skip check,
the device-side trackers, a log step every `--log-step` steps with a decoded, scored train
batch (`train_metrics_every` = `log_step`), and the epoch's end; only the example table and
the augmentation images of an epoch's end are off (`log_examples=0`, `log_augmentations=0`:
they cost once per epoch, not per step), and so are the augmentations (the presets' features
without them: the bare loop has none). Presets: `cpu` = `-cn=deepspeech2_cpu` (the CPU
DeepSpeech2, 64 log-mel) with batches of 8 x 2.5 s; `paper` = `-cn=deepspeech2` (the paper
model, 161-bin spectrogram) with batches of 32 x `--paper-seconds` s (short: on a CPU its step
takes tens of seconds). `--device cuda` runs the same comparison on a GPU. `--smoke` runs every
code path in seconds (a tiny model, batches of 2 x 0.5 s, 2 steps, 1 round): no figure.
"""

import argparse
import copy
import inspect
import itertools
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from hydra import compose, initialize_config_dir

from src.datasets.base_dataset import collate_fn
from src.trainer.pipeline import Batch, move_to_device
from src.trainer.setup import build_trainer
from src.trainer.trainer import Trainer
from src.utils.runtime import autocast

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SAMPLE_RATE = 16000
CHARS_PER_SECOND = 12
SMOKE_MODEL = ("model.rnn_layers=1", "model.rnn_hidden=16", "model.conv_channels=[4,4]")


@dataclass(frozen=True)
class Preset:
    config: str
    transforms: str  # the preset's features without augmentations
    batch_size: int
    seconds: float
    n_batches: int  # distinct batches, cycled (each loop warms up on every one first)
    steps: int  # per round and loop
    rounds: int
    model: tuple[str, ...] = ()  # model overrides (the smoke run's tiny sizes)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def tiny_manifest(folder: Path) -> Path:
    """Two 1 s noise files with a short transcript: what `build_trainer` needs to build."""
    lines = []
    for index in range(2):
        path = folder / f"{index}.wav"
        sf.write(path, 0.1 * np.random.default_rng(index).standard_normal(SAMPLE_RATE), SAMPLE_RATE)
        lines.append(json.dumps({"path": path.name, "duration": 1.0, "text": "a b"}))
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def build(preset: Preset, args: argparse.Namespace, folder: Path) -> Trainer:
    manifest = tiny_manifest(folder)
    overrides = [
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        "writer=cometml",
        f"transforms={preset.transforms}",
        f"dataloader.batch_size={preset.batch_size}",
        "dataloader.num_workers=0",
        f"trainer.device={args.device}",
        f"trainer.amp={args.amp}",
        f"trainer.num_threads={args.threads}",
        "trainer.n_epochs=10000",  # the LR schedule lasts for every round
        "trainer.max_minutes=null",  # fixed steps, and no moving average: the bare loop has none
        "trainer.ema_decay=null",
        f"trainer.epoch_len={preset.steps}",
        f"trainer.log_step={args.log_step}",
        "trainer.log_examples=0",
        "trainer.log_augmentations=0",
        f"trainer.save_dir={folder}",
        f"trainer.run_name={preset.config}",
        *preset.model,
    ]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(preset.config, overrides=overrides)
    return build_trainer(cfg)


def make_batches(trainer: Trainer, preset: Preset) -> list[Batch]:
    """`preset.n_batches` collated batches of noise, 90-100% of `preset.seconds` long, each with a
    random transcript of `CHARS_PER_SECOND` characters per second."""
    encoder = trainer.pipeline.decoders[trainer.train_decoders[0]].text_encoder
    letters = [token for token in encoder.vocab if token.isalpha()]
    rng = np.random.default_rng(0)
    batches = []
    for number in range(preset.n_batches):
        items = []
        for index in range(preset.batch_size):
            samples = int(preset.seconds * SAMPLE_RATE * rng.uniform(0.9, 1.0))
            text = "".join(rng.choice(letters, int(CHARS_PER_SECOND * preset.seconds)))
            items.append(
                {
                    "audio": torch.from_numpy(0.1 * rng.standard_normal(samples)).float(),
                    "audio_length": samples,
                    "text_encoded": encoder.encode(text),
                    "text": text,
                    "id": f"{number}-{index}",
                    "audio_path": f"{number}-{index}.wav",
                }
            )
        batches.append(collate_fn(items))
    return batches


def bare_loop(trainer: Trainer, batches: list[Batch]) -> Callable[[int], None]:
    """`steps` -> that many plain steps on a copy of the trainer's model, a fresh optimizer of
    the same kind and settings, the same features, loss, autocast and clipping."""
    model = copy.deepcopy(trainer.model)
    kind = type(trainer.optimizer)
    accepted = inspect.signature(kind).parameters
    settings = {key: value for key, value in trainer.optimizer.defaults.items() if key in accepted}
    optimizer = kind(model.parameters(), **settings)
    parameters = list(model.parameters())
    pipeline, criterion = trainer.pipeline, trainer.criterion
    max_norm = trainer.grad_clip_norm or float("inf")

    def run(steps: int) -> None:
        for batch in itertools.islice(itertools.cycle(batches), steps):
            batch = move_to_device(batch, pipeline.device)
            batch.update(pipeline.features(**batch))
            with autocast(pipeline.device, pipeline.amp):
                batch.update(model(**batch))
            loss = criterion(**batch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, max_norm)
            optimizer.step()

    return run


def trainer_loop(trainer: Trainer, batches: list[Batch]) -> Callable[[int], None]:
    """`steps` -> one `train_epoch` of that many steps on `batches`."""
    trainer.train_batches = itertools.cycle(batches)

    def run(steps: int) -> None:
        trainer.epoch_len, trainer.step_in_epoch = steps, 0
        trainer.train_epoch()

    return run


def timed(run: Callable[[int], None], steps: int, device: torch.device) -> float:
    start = time.perf_counter()
    run(steps)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(preset: Preset, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        trainer = build(preset, args, Path(folder))
        try:
            batches = make_batches(trainer, preset)
            loops = {"bare": bare_loop(trainer, batches), "trainer": trainer_loop(trainer, batches)}
            device = trainer.pipeline.device
            for run in loops.values():  # warm-up: every batch shape once
                run(preset.n_batches)
            seconds: dict[str, list[float]] = {name: [] for name in loops}
            for _ in range(preset.rounds):
                for name, run in loops.items():
                    seconds[name].append(timed(run, preset.steps, device))
        finally:
            trainer.writer.finish()
            trainer.pipeline.close()
    ratios = [bare / ours for bare, ours in zip(seconds["bare"], seconds["trainer"], strict=True)]
    bare_rate = preset.steps * preset.rounds / sum(seconds["bare"])
    trainer_rate = preset.steps * preset.rounds / sum(seconds["trainer"])
    parameters = sum(parameter.numel() for parameter in trainer.model.parameters())
    print(
        f"{preset.config:<16} {parameters / 1e6:6.2f}M {preset.batch_size:>3} x "
        f"{preset.seconds:<4g}s {trainer.pipeline.amp:>4} {bare_rate:9.3f} {trainer_rate:9.3f}"
        f" {100 * statistics.median(ratios):8.1f}%   N={preset.steps}: "
        + " ".join(f"{100 * ratio:.1f}%" for ratio in ratios)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", choices=["cpu", "paper"], default=["cpu", "paper"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, help="per round and loop (cpu 30, paper 8)")
    parser.add_argument("--rounds", type=int, help="cpu 5, paper 3")
    parser.add_argument("--log-step", type=int, default=10)
    parser.add_argument("--paper-seconds", type=float, default=0.5)
    parser.add_argument("--amp", default="auto", help="trainer.amp for both loops")
    parser.add_argument("--device", default="cpu", help="trainer.device for both loops")
    parser.add_argument("--smoke", action="store_true", help="tiny and short: a code check")
    args = parser.parse_args()
    presets = {
        "cpu": Preset("deepspeech2_cpu", "logmel", 8, 2.5, 5, args.steps or 30, args.rounds or 5),
        "paper": Preset(
            "deepspeech2",
            "spectrogram",
            32,
            args.paper_seconds,
            2,
            args.steps or 8,
            args.rounds or 3,
        ),
    }
    if args.smoke:
        presets = {
            name: Preset(preset.config, preset.transforms, 2, 0.5, 2, 2, 1, SMOKE_MODEL)
            for name, preset in presets.items()
        }
    print(
        f"trainer vs bare loop, one run, log step {args.log_step}, {args.threads} threads, "
        f"{args.device}, {cpu_model()}"
    )
    print(
        f"{'preset':<16} {'params':>7} {'batch':>10} {'amp':>4} {'bare/s':>9} {'ours/s':>9} "
        f"{'median':>8}   per round of N steps: trainer steps/s over bare steps/s"
    )
    for name in args.presets:
        measure(presets[name], args)


if __name__ == "__main__":
    main()
