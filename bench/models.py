"""Training speed of the CPU model presets, one run: parameters, seconds per step, steps/s and
seconds of audio per second, on the same batches (8 utterances of 2.3-2.5 s, 64 log-mel
features, 29 characters), fp32 unless `--amp bf16`.

    python -m bench.models [--threads 2] [--steps 6] [--batch-size 8] [--presets P ...]

Ratios are to the first preset (deepspeech2_cpu). Speed only: what each choice buys in error
rate needs training runs (docs/models.md lists the commands).
"""

import argparse
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from bench.train_step import N_MELS, N_TOKENS, model_step, seconds_per_step
from src.model import build_model
from src.utils.runtime import native_bf16

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = ["deepspeech2_cpu", "conformer_ctc_cpu", "quartznet_cpu"]
SECONDS_PER_UTTERANCE = 2.4  # the mean of model_step's 2.3-2.5 s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--amp", choices=["off", "bf16"], default="off")
    args = parser.parse_args()
    if args.amp == "bf16" and not native_bf16(torch.device("cpu")):
        parser.error("this CPU has no native bf16 (it would be emulated, about 20x slower)")
    torch.set_num_threads(args.threads)
    print(
        f"train step, batch {args.batch_size} x 2.5 s, {N_MELS} log-mel, {N_TOKENS} tokens, "
        f"{args.threads} threads, amp {args.amp}"
    )
    print(
        f"{'preset':<20} {'model':<22} {'params':>8} {'s/step':>7} {'steps/s':>8} "
        f"{'audio s/s':>10} {'vs first':>9}"
    )
    reference = None
    for preset in args.presets:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(preset)
        if cfg.transforms.features.n_mels != N_MELS:
            print(f"{preset:<20} skipped: {cfg.transforms.features.n_mels} features, not {N_MELS}")
            continue
        step = model_step(args.batch_size, bf16=args.amp == "bf16", preset=cfg.model)
        parameters = sum(p.numel() for p in build_model(cfg.model, N_MELS, N_TOKENS).parameters())
        seconds = seconds_per_step(step, args.steps)
        reference = reference or seconds
        print(
            f"{preset:<20} {cfg.model._target_.rsplit('.', 1)[-1]:<22} "
            f"{parameters / 1e6:7.2f}M {seconds:7.3f} {1 / seconds:8.2f} "
            f"{args.batch_size * SECONDS_PER_UTTERANCE / seconds:10.1f} {seconds / reference:8.2f}x"
        )


if __name__ == "__main__":
    main()
