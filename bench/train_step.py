"""Seconds per training step of the CPU DeepSpeech2 (`configs/model/deepspeech2_small.yaml`)
on a synthetic-sized batch, and the choices behind that preset, in one run.

    python -m bench.train_step [--threads 2] [--steps 6] [--batch-size 8]

Rows: the preset (BiLSTM, 11x11 / 11x5 kernels), the same with the paper's 41x11 / 21x11
kernels, the same with BiGRU layers, bf16 autocast (only where the CPU runs bf16 natively;
elsewhere it is skipped with the reason), and one bidirectional layer computed exactly on the
padded batch (`reverse_padded`, the CPU's choice) versus one fused call over packed sequences
(the GPU's choice; `RecurrentLayer(packed=True)`). Ratios are to the preset.
"""

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.loss import CTCLossWrapper
from src.model.deepspeech2 import RecurrentLayer
from src.transforms import LogMelSpectrogram
from src.utils.runtime import native_bf16

PRESET = Path(__file__).resolve().parents[1] / "configs" / "model" / "deepspeech2_small.yaml"
N_MELS, N_TOKENS = 64, 29


def seconds_per_step(step: Callable[[], None], steps: int) -> float:
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def model_step(
    batch_size: int, bf16: bool = False, preset: Any = PRESET, **overrides
) -> Callable[[], None]:
    """One optimizer step of a model config (`preset`: a file or a config node, default the
    CPU DeepSpeech2, with `overrides`) on 2.3-2.5 s utterances."""
    torch.manual_seed(0)
    base = OmegaConf.load(preset) if isinstance(preset, Path) else preset
    config = OmegaConf.merge(base, overrides)
    model = instantiate(config, n_feats=N_MELS, n_tokens=N_TOKENS)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    criterion = CTCLossWrapper()
    audio_length = torch.randint(36000, 40000, (batch_size,))
    batch = LogMelSpectrogram(n_mels=N_MELS)(torch.randn(batch_size, 40000), audio_length)
    text = torch.randint(1, N_TOKENS, (batch_size, 35))
    text_length = torch.full((batch_size,), 35)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = model(**batch)
        loss = criterion(**output, text_encoded=text, text_encoded_length=text_length)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"train step, batch {args.batch_size} x 2.5 s, {args.threads} threads, fp32 unless said")

    def report(name: str, seconds: float, reference: float) -> None:
        print(f"  {name:<48} {seconds:6.3f} s   {seconds / reference:5.2f}x the preset")

    preset = seconds_per_step(model_step(args.batch_size), args.steps)
    report("deepspeech2_small (BiLSTM, kernels 11x11/11x5)", preset, preset)
    paper_kernels = model_step(args.batch_size, conv_kernels=[[41, 11], [21, 11]])
    report(
        "  with the paper's kernels 41x11/21x11",
        seconds_per_step(paper_kernels, args.steps),
        preset,
    )
    gru = model_step(args.batch_size, rnn_type="gru")
    report("  with BiGRU layers", seconds_per_step(gru, args.steps), preset)
    if native_bf16(torch.device("cpu")):
        bf16 = model_step(args.batch_size, bf16=True)
        report("  with bf16 autocast", seconds_per_step(bf16, args.steps), preset)
    else:
        print("  bf16 autocast: skipped, this CPU has no native bf16 (trainer.amp=auto -> off)")

    lengths = torch.randint(60, 84, (args.batch_size,))
    x = torch.randn(args.batch_size, 84, 512, requires_grad=True)
    for rnn_type in ("lstm", "gru"):
        timings = {}
        for packed_rnn in (True, False):  # the GPU's fused packed call, the CPU's unpacked pair
            layer = RecurrentLayer(512, 256, rnn_type, True, batch_norm=False, packed=packed_rnn)
            forward = functools.partial(layer, x, lengths)
            timings[packed_rnn] = seconds_per_step(
                lambda f=forward: f().sum().backward(), args.steps
            )
        packed, exact = timings[True], timings[False]
        print(
            f"  one bidirectional {rnn_type} layer fwd+bwd: packed {packed:.3f} s,"
            f" exact unpacked {exact:.3f} s, {packed / exact:.2f}x faster unpacked"
        )


if __name__ == "__main__":
    main()
