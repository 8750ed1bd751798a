"""Seconds per training step of the CPU DeepSpeech2 on one synthetic-sized batch, in one run.

    python -m bench.train_step [--threads 2] [--steps 6]

Compares fp32 with bf16 autocast, and the project's exact unpacked bidirectional RNN with the
same layer over packed sequences, and prints the ratios.
"""

import argparse
import functools
import time
from collections.abc import Callable

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from src.loss import CTCLossWrapper
from src.model import DeepSpeech2
from src.model.deepspeech2 import RecurrentLayer
from src.transforms import LogMelSpectrogram


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    features = LogMelSpectrogram(n_mels=64)
    model = DeepSpeech2(64, 29, conv_strides=[[2, 3], [2, 1]], rnn_hidden=256, rnn_layers=3)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    criterion = CTCLossWrapper()
    audio_length = torch.randint(36000, 40000, (32,))
    batch = features(torch.randn(32, 40000), audio_length)
    text = torch.randint(1, 29, (32, 40))
    text_length = torch.full((32,), 40)

    def step(amp: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            output = model(**batch)
        loss = criterion(**output, text_encoded=text, text_encoded_length=text_length)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    fp32 = seconds_per_step(lambda: step(False), args.steps)
    bf16 = seconds_per_step(lambda: step(True), args.steps)
    print(f"DeepSpeech2 (3.0M) train step, batch 32 x 2.5 s, {args.threads} threads:")
    print(f"  fp32 {fp32:.3f} s   bf16 autocast {bf16:.3f} s   speed-up {fp32 / bf16:.2f}x")

    lengths = torch.randint(60, 84, (32,))
    x = torch.randn(32, 84, 512, requires_grad=True)
    for rnn_type in ("gru", "lstm"):
        layer = RecurrentLayer(512, 256, rnn_type, bidirectional=True, batch_norm=False)

        def run(forward: Callable) -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = forward()
            out.float().sum().backward()

        exact_forward = functools.partial(layer, x, lengths)
        packed_forward_ = functools.partial(packed_forward, layer, x, lengths)
        exact = seconds_per_step(functools.partial(run, exact_forward), args.steps)
        packed = seconds_per_step(functools.partial(run, packed_forward_), args.steps)
        print(
            f"  bidirectional {rnn_type} layer fwd+bwd (bf16): packed {packed:.3f} s,"
            f" unpacked exact {exact:.3f} s, speed-up {packed / exact:.2f}x"
        )


if __name__ == "__main__":
    main()
