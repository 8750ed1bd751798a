"""Seconds per training step of the CPU DeepSpeech2 (`configs/model/deepspeech2_small.yaml`)
on a synthetic-sized batch, and the choices behind that preset, in one run.

    python -m bench.train_step [--threads 2] [--steps 6] [--batch-size 8]

Rows: the preset (BiLSTM, 11x11 / 11x5 kernels), the same with the paper's 41x11 / 21x11
kernels, the same with BiGRU layers, bf16 autocast (only where the CPU runs bf16 natively;
elsewhere it is skipped with the reason), and one bidirectional layer computed exactly on the
padded batch (`reverse_padded`) versus over packed sequences. Ratios are to the preset.
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
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from src.loss import CTCLossWrapper
from src.model.deepspeech2 import RecurrentLayer
from src.transforms import LogMelSpectrogram
from src.utils.runtime import native_bf16

PRESET = Path(__file__).resolve().parents[1] / "configs" / "model" / "deepspeech2_small.yaml"
N_MELS, N_TOKENS = 64, 29


def packed_forward(layer: RecurrentLayer, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The same layer computed the conventional way: one packed pass per direction."""
    if layer.norm is not None:
        x = layer.norm(x.transpose(1, 2)).transpose(1, 2)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    output, _ = pad_packed_sequence(layer.forward_rnn(packed)[0], batch_first=True)
    flipped = pack_padded_sequence(
        torch.stack([torch.cat([s[:n].flip(0), s[n:]]) for s, n in zip(x, lengths, strict=True)]),
        lengths.cpu(),
        batch_first=True,
        enforce_sorted=False,
    )
    backward, _ = pad_packed_sequence(layer.backward_rnn(flipped)[0], batch_first=True)
    backward = torch.stack(
        [torch.cat([s[:n].flip(0), s[n:]]) for s, n in zip(backward, lengths, strict=True)]
    )
    return output + backward


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
        layer = RecurrentLayer(512, 256, rnn_type, bidirectional=True, batch_norm=False)

        def run(forward: Callable[[], torch.Tensor]) -> None:
            forward().sum().backward()

        exact = seconds_per_step(
            functools.partial(run, functools.partial(layer, x, lengths)), args.steps
        )
        packed = seconds_per_step(
            functools.partial(run, functools.partial(packed_forward, layer, x, lengths)), args.steps
        )
        print(
            f"  one bidirectional {rnn_type} layer fwd+bwd: packed {packed:.3f} s,"
            f" exact unpacked {exact:.3f} s, {packed / exact:.2f}x faster unpacked"
        )


if __name__ == "__main__":
    main()
