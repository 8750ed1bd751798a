"""How much audio one DataLoader worker serves: audio seconds per second per worker for
LibriSpeech-like FLAC, with each set of worker-side augmentations, in one run.

    python -m bench.loader [--files 48] [--seconds 8] [--workers 1]

It writes FLAC files of 2-23 s (mean about 12 s, like LibriSpeech training utterances) cut from
the real speech in ../shared/data/LibriSpeech (noise where it is absent), then reads them through
the project's dataset and collate function with one worker process, for: no augmentation (the
GPU recipe: workers only decode; speed and noise run on the GPU per batch), speed perturbation,
and every wave augmentation of `transforms=logmel_augmented_full` at p=1. The workers a GPU
needs follow: (audio seconds per training step x steps per second) / (audio-s/s per worker).
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
from torch.utils.data import DataLoader

from src.datasets import ManifestDataset, collate_fn
from src.text_encoder import CTCCharTextEncoder
from src.trainer.setup import build_augmentations
from src.utils.audio import load_audio
from tests.conftest import REPO_ROOT, compose_config

SAMPLE_RATE = 16000
SPEECH = REPO_ROOT.parent / "shared" / "data" / "LibriSpeech"


def speech_pool() -> tuple[torch.Tensor, str]:
    files = sorted(SPEECH.rglob("*.flac"))
    if files:
        return torch.cat([load_audio(path, SAMPLE_RATE) for path in files]), str(SPEECH)
    return 0.1 * torch.randn(120 * SAMPLE_RATE), "Gaussian noise"


def write_corpus(folder: Path, count: int, seed: int = 0) -> tuple[Path, float, str]:
    """`count` FLAC files of 2-23 s and their manifest; returns it, the total seconds, source."""
    pool, source = speech_pool()
    rng = random.Random(seed)
    lines, total = [], 0.0
    for number in range(count):
        seconds = rng.uniform(2.0, 23.0)
        length = int(seconds * SAMPLE_RATE)
        start = rng.randrange(0, max(1, pool.shape[0] - length))
        clip = pool[start : start + length]
        clip = torch.cat([clip, pool[: length - clip.shape[0]]])  # wrap around a short pool
        path = folder / f"utt{number:04d}.flac"
        sf.write(path, clip.numpy(), SAMPLE_RATE, subtype="PCM_16")
        lines.append({"path": path.name, "duration": seconds, "text": "a b c", "id": path.stem})
        total += seconds
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest, total, source


def augmentation_sets() -> dict[str, list]:
    sets = {"none (decode only: the GPU recipe)": []}
    for name, transforms, overrides in [
        ("speed perturbation", "logmel_speed", []),
        (
            "all six wave augmentations, p=1",
            "logmel_augmented_full",
            [
                f"transforms.probabilities.{key}=1.0"
                for key in ("speed", "pitch", "reverb", "noise", "band_pass", "gain")
            ],
        ),
    ]:
        cfg = compose_config("deepspeech2_cpu", f"transforms={transforms}", *overrides)
        sets[name] = build_augmentations(cfg.transforms)["wave"]["train"]
    return sets


def audio_seconds_per_second(
    manifest: Path, wave_augs: list, workers: int, budget: float
) -> tuple[float, int]:
    dataset = ManifestDataset(manifest, text_encoder=CTCCharTextEncoder(), wave_augs=wave_augs)
    options = {"persistent_workers": True, "prefetch_factor": 4} if workers else {}
    loader = DataLoader(
        dataset, batch_size=4, shuffle=True, num_workers=workers, collate_fn=collate_fn, **options
    )
    served, start, batches = 0.0, time.perf_counter(), 0
    while time.perf_counter() - start < budget:
        for batch in loader:
            served += float(batch["audio_length"].sum()) / SAMPLE_RATE
            batches += 1
            if time.perf_counter() - start >= budget:
                break
    return served / (time.perf_counter() - start), batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=8.0, help="wall time per measurement")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        manifest, total, source = write_corpus(Path(folder), args.files)
        print(f"{args.files} FLAC files, {total / 60:.1f} min of audio cut from {source}; ")
        print(f"{args.workers} worker process(es), {args.seconds:g} s per row\n")
        print("| worker-side work | audio-s/s per worker |")
        print("|---|---:|")
        for name, wave_augs in augmentation_sets().items():
            rate, _ = audio_seconds_per_second(manifest, wave_augs, args.workers, args.seconds)
            print(f"| {name} | {rate / args.workers:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
