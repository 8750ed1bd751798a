"""Training FLOPs per second of audio for each model preset, and what that means for a GPU.

    python -m bench.flops [--model deepspeech2 deepspeech2_small ...] [--mfu 0.05 0.15 0.3]

Counts the forward FLOPs of 10 s of audio with `torch.utils.flop_counter` (convolutions, matrix
products, and the recurrent layers, which run as matrix products on the CPU), takes a training
step as 3x the forward (forward + backward), and turns a GPU's dense bf16 peak and an assumed
model FLOP utilisation (MFU) into audio seconds per second and the time of one LibriSpeech
960 h epoch. These are estimates from arithmetic, not measurements: `bench/gpu_check.py`
measures on a GPU.
"""

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from src.model import build_model
from src.transforms.features import build_features
from tests.conftest import compose_config

SECONDS = 10.0
LIBRISPEECH_960H_SECONDS = 960 * 3600
PEAK_BF16_TFLOPS = {"A100": 312, "H100 / H200 (SXM)": 790}  # dense, per the vendors' sheets
N_TOKENS = 29


def forward_flops_per_audio_second(model_name: str) -> tuple[float, int]:
    """(forward FLOPs per audio second, parameters) of `configs/model/<model_name>.yaml` with
    the features of its usual preset."""
    preset = "deepspeech2" if model_name == "deepspeech2" else "deepspeech2_cpu"
    cfg = compose_config(preset, f"model={model_name}")
    features = build_features(cfg.transforms.features)
    model = build_model(cfg.model, features.n_feats, N_TOKENS).eval()
    audio = torch.randn(1, int(SECONDS * features.sample_rate))
    batch = features(audio=audio, audio_length=torch.tensor([audio.shape[1]]))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**batch)
    parameters = sum(p.numel() for p in model.parameters())
    return counter.get_total_flops() / SECONDS, parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", default=["deepspeech2"])
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.05, 0.15, 0.3])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| model | parameters | training GFLOPs per audio second | GPU | MFU | audio-s/s | "
        "960 h epoch |"
    )
    print("|---|---:|---:|---|---:|---:|---:|")
    for name in args.model:
        forward, parameters = forward_flops_per_audio_second(name)
        training = 3 * forward
        for gpu, peak in PEAK_BF16_TFLOPS.items():
            for mfu in args.mfu:
                rate = peak * 1e12 * mfu / training
                minutes = LIBRISPEECH_960H_SECONDS / rate / 60
                print(
                    f"| `{name}` | {parameters / 1e6:.1f} M | {training / 1e9:.1f} | {gpu} | "
                    f"{mfu:.0%} | {rate:,.0f} | {minutes:.0f} min |"
                )


if __name__ == "__main__":
    main()
