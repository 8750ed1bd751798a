"""Milliseconds per call of each waveform augmentation on one 10 s utterance, in one run.

    python -m bench.augmentations [--threads 1] [--repeats 20]

Every augmentation runs with p=1 on the same 10 s of real speech (LibriSpeech test-clean from
../shared/data when present, else a synthetic corpus utterance, else noise), as the training
dataset applies them (the random draws differ from call to call). For scale it also times
reading the 10 s from a FLAC file, its log-mel features, SpecAugment on a batch, and
`torchaudio.functional.pitch_shift` (once: it takes seconds). Last, how much each
length-keeping augmentation changes what the model sees: per-utterance normalisation cancels a
gain entirely and a fixed filter largely.
"""

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf
import torch
import torchaudio

from src.transforms import (
    AdditiveNoise,
    BandPass,
    Gain,
    LogMelSpectrogram,
    PitchShift,
    Reverberation,
    SpecAugment,
    SpeedPerturbation,
)
from src.utils.audio import load_audio

SAMPLE_RATE = 16000
RNG = random.Random(0)  # the augmentations' draws (the training dataset makes one per item)
SOURCES = [Path("../shared/data/LibriSpeech"), Path("data/synthetic/LibriSpeech")]


def ten_seconds() -> tuple[torch.Tensor, str]:
    """10 s of speech (files concatenated) and where it came from."""
    for folder in SOURCES:
        files = sorted(folder.rglob("*.flac"))
        if files:
            audio = torch.cat([load_audio(path, SAMPLE_RATE) for path in files[:20]])
            if audio.shape[0] >= 10 * SAMPLE_RATE:
                return audio[: 10 * SAMPLE_RATE], str(folder)
    return 0.1 * torch.randn(10 * SAMPLE_RATE), "Gaussian noise"


def milliseconds(call: Callable[[], object], repeats: int, warm_up: bool = True) -> float:
    if warm_up:
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1000


def feature_change(
    augmentation: Callable[[torch.Tensor], torch.Tensor],
    audio: torch.Tensor,
    features: LogMelSpectrogram,
    repeats: int,
) -> float:
    """Mean RMS difference between the features of augmented and clean `audio`."""
    length = torch.tensor([audio.shape[0]])
    clean = features(audio[None], length)["spectrogram"]
    changes = [
        (features(augmentation(audio, RNG)[None], length)["spectrogram"] - clean)
        .square()
        .mean()
        .sqrt()
        for _ in range(repeats)
    ]
    return float(sum(changes) / repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    audio, source = ten_seconds()
    print(f"10 s of {source}, {args.threads} thread(s), mean of {args.repeats} calls")
    augmentations = [
        SpeedPerturbation(),
        Gain(),
        AdditiveNoise(),
        PitchShift(),
        BandPass(),
        Reverberation(),
    ]
    rows = {
        type(aug).__name__: milliseconds(lambda aug=aug: aug(audio, RNG), args.repeats)
        for aug in augmentations
    }
    rows["all six in a row"] = milliseconds(
        lambda: [aug(audio, RNG) for aug in augmentations], args.repeats
    )
    with tempfile.TemporaryDirectory() as folder:
        flac = Path(folder) / "ten_seconds.flac"
        sf.write(flac, audio.numpy(), SAMPLE_RATE)
        rows["for scale: reading the 10 s FLAC"] = milliseconds(
            lambda: load_audio(flac), args.repeats
        )
    features = LogMelSpectrogram(n_mels=64)
    length = torch.tensor([audio.shape[0]])
    rows["for scale: its log-mel features"] = milliseconds(
        lambda: features(audio[None], length), args.repeats
    )
    spectrogram = features(audio[None].repeat(32, 1), length.repeat(32))["spectrogram"]
    spec_augment = SpecAugment(freq_mask_param=8, time_mask_param=15)
    rows["SpecAugment on a batch of 32 x 10 s"] = milliseconds(
        lambda: spec_augment(spectrogram), args.repeats
    )
    rows["torchaudio.functional.pitch_shift, once"] = milliseconds(
        lambda: torchaudio.functional.pitch_shift(audio, SAMPLE_RATE, 2), 1, warm_up=False
    )
    width = max(map(len, rows))
    for name, value in rows.items():
        print(f"{name:<{width}}  {value:9.1f} ms")
    ratio = rows["torchaudio.functional.pitch_shift, once"] / rows["PitchShift"]
    print(f"PitchShift is {ratio:.0f}x faster than torchaudio.functional.pitch_shift")
    print("RMS change of the normalised log-mel features (1.0 = their own spread), mean of calls:")
    for augmentation in augmentations[1:]:  # the length-keeping ones
        change = feature_change(augmentation, audio, features, args.repeats)
        print(f"{type(augmentation).__name__:<{width}}  {change:9.2f}")


if __name__ == "__main__":
    main()
