"""The GPU check: one table of what the GPU recipe does on a CUDA machine, in a few minutes.

    python -m bench.gpu_check [--speech DIR] [--out table.md]     # on a machine with CUDA
    python -m bench.gpu_check --smoke                              # tiny sizes, any device

Rows: the device; steps/s and audio-s/s of the paper DeepSpeech2 (`configs/model/
deepspeech2.yaml`, the log spectrogram, batch 32 x 12 s) for fp32 / bf16 / fp16 (+ GradScaler),
with the packed (fused cuDNN) and the unpacked bidirectional layers; peak GPU memory per batch
size; DataLoader throughput of the recipe's workers (`dataloader.num_workers: auto`) on
LibriSpeech-like FLAC; a one-batch overfit of 200 steps whose loss must fall below 0.1; and
inference of that batch with every decoder (argmax, the hand-written beam search, pyctcdecode,
flashlight; a decoder whose package is missing is reported as such). Training steps are the
project's own pieces (BatchPipeline, CTCLossWrapper, GradScaler, clipping, fused AdamW),
timed with CUDA synchronisation. `--speech DIR` holds audio files with `<id>.txt` transcripts
for the overfit (default: the AN4 copy in ../shared/data when present, else the corpus below).
The exit status is 1 when the overfit misses its target.
"""

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import torch

from src.decoding import ArgmaxDecoder, BeamSearchDecoder
from src.loss import CTCLossWrapper
from src.metrics import corpus_error_rates
from src.model import build_model
from src.text_encoder import CTCCharTextEncoder
from src.trainer.pipeline import BatchPipeline
from src.trainer.setup import fused_on_cuda
from src.transforms.features import build_features
from src.utils.audio import load_audio
from src.utils.runtime import native_bf16
from tests.conftest import REPO_ROOT, compose_config

SHARED_AN4 = REPO_ROOT.parent / "shared" / "data" / "an4"
ENCODER = CTCCharTextEncoder()
Row = tuple[str, str, str]


def synthetic_batch(batch_size: int, seconds: float, generator: torch.Generator) -> dict:
    """Noise audio of `seconds` (lengths 80-100% of it) with random 14-characters-a-second
    labels, in pinned memory like the recipe's loader gives on CUDA."""
    samples = int(seconds * 16000)
    lengths = torch.randint(int(0.8 * samples), samples + 1, (batch_size,), generator=generator)
    labels = torch.randint(1, len(ENCODER), (batch_size, int(14 * seconds)), generator=generator)
    batch = {
        "audio": 0.1 * torch.randn(batch_size, samples, generator=generator),
        "audio_length": lengths,
        "text_encoded": labels,
        "text_encoded_length": torch.full((batch_size,), labels.shape[1]),
    }
    if torch.cuda.is_available():
        batch = {key: value.pin_memory() for key, value in batch.items()}
    return batch


class TrainingStep:
    """One optimizer step of the GPU recipe's pieces on a batch, as the trainer runs it."""

    def __init__(self, model_overrides: list[str], amp: str, device: torch.device) -> None:
        cfg = compose_config("deepspeech2", *model_overrides)
        torch.manual_seed(0)
        features = build_features(cfg.transforms.features)
        model = build_model(cfg.model, features.n_feats, len(ENCODER))
        self.pipeline = BatchPipeline(model.train(), features, device, amp)
        self.criterion = CTCLossWrapper()
        parameters = list(model.parameters())
        self.optimizer = torch.optim.AdamW(parameters, 3e-4, **fused_on_cuda(cfg.optimizer, device))
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        self.parameters = parameters

    def __call__(self, batch: dict) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        batch = self.pipeline.forward(dict(batch), train=True)
        loss = self.criterion(**batch)["loss"]
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.parameters, 400.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Seconds per call, after two warm-up calls (cuDNN picks its algorithms there)."""
    for _ in range(2):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def throughput_rows(device: torch.device, sizes: dict, repeats: int) -> list[Row]:
    amps = ["off"] + (["bf16"] if native_bf16(device) else []) + ["fp16"]
    batch = synthetic_batch(sizes["batch"], sizes["seconds"], torch.Generator().manual_seed(0))
    audio_seconds = float(batch["audio_length"].sum()) / 16000
    rows = []
    for amp in amps:
        for packed in (True, False):
            overrides = [*sizes["model"], f"+model.packed_rnn={str(packed).lower()}"]
            step = TrainingStep(overrides, amp, device)
            seconds = timed(lambda s=step: s(batch), repeats, device)
            name = f"{'fp32' if amp == 'off' else amp}, {'packed' if packed else 'unpacked'} RNN"
            rows.append(
                (
                    "train step",
                    name,
                    f"{1 / seconds:.2f} steps/s, {audio_seconds / seconds:,.0f} audio-s/s",
                )
            )
    return rows


def memory_rows(device: torch.device, sizes: dict) -> list[Row]:
    if device.type != "cuda":
        return [("peak memory", "per batch size", "skipped: no CUDA device")]
    amp = "bf16" if native_bf16(device) else "fp16"
    rows = []
    for batch_size in sizes["memory_batches"]:
        step = TrainingStep(sizes["model"], amp, device)
        batch = synthetic_batch(batch_size, sizes["seconds"], torch.Generator().manual_seed(1))
        torch.cuda.reset_peak_memory_stats(device)
        step(batch)
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        rows.append(
            (
                "peak memory",
                f"batch {batch_size} x {sizes['seconds']:g} s, {amp}",
                f"{peak:.1f} GiB",
            )
        )
        del step
        torch.cuda.empty_cache()
    return rows


def loader_rows(device: torch.device, seconds: float) -> list[Row]:
    from omegaconf import OmegaConf

    from bench.loader import audio_seconds_per_second, write_corpus
    from src.datasets.loaders import LoaderConfig, resolve_auto

    workers = resolve_auto(OmegaConf.structured(LoaderConfig), device.type).num_workers
    workers = max(workers, 1)
    with tempfile.TemporaryDirectory() as folder:
        manifest, _, source = write_corpus(Path(folder), 48)
        rate, _ = audio_seconds_per_second(manifest, [], workers, seconds)
    return [
        (
            "data loader",
            f"{workers} workers, decode only ({Path(source).name})",
            f"{rate:,.0f} audio-s/s ({rate / workers:,.0f} per worker)",
        )
    ]


def speech_batch(folder: Path | None, count: int) -> tuple[dict, list[str]]:
    """`count` utterances (audio + `<id>.txt`) of `folder`, else of the shared AN4 copy, else
    of the synthetic corpus made here; collated."""
    pairs = []
    if folder is not None:
        pairs = [
            (p, p.with_suffix(".txt").read_text().strip())
            for p in sorted(folder.iterdir())
            if p.with_suffix(".txt").is_file() and p.suffix != ".txt"
        ]
    elif (SHARED_AN4 / "manifest.jsonl").is_file():
        for line in (SHARED_AN4 / "manifest.jsonl").read_text().splitlines()[:count]:
            record = json.loads(line)
            pairs.append((SHARED_AN4 / record["path"], record["text"]))
    if not pairs:
        raise FileNotFoundError("no speech for the overfit: pass --speech DIR (audio + <id>.txt)")
    audio = [load_audio(path) for path, _ in pairs[:count]]
    texts = [ENCODER.normalize(text) for _, text in pairs[:count]]
    labels = [ENCODER.encode(text) for text in texts]
    pad = torch.nn.utils.rnn.pad_sequence
    batch = {
        "audio": pad(audio, batch_first=True),
        "audio_length": torch.tensor([len(a) for a in audio]),
        "text_encoded": pad(labels, batch_first=True),
        "text_encoded_length": torch.tensor([len(label) for label in labels]),
    }
    return batch, texts


def overfit_and_decode_rows(
    device: torch.device, sizes: dict, speech: Path | None
) -> tuple[list[Row], bool]:
    batch, texts = speech_batch(speech, 8)
    amp = "bf16" if native_bf16(device) else ("fp16" if device.type == "cuda" else "off")
    step = TrainingStep([*sizes["model"], "transforms=spectrogram"], amp, device)  # no augmentation
    for group in step.optimizer.param_groups:
        group["lr"] = 1e-3
    start = time.perf_counter()
    losses = [float(step(batch)) for _ in range(sizes["overfit_steps"])]
    held = losses[-1] < 0.1
    seconds = time.perf_counter() - start
    verdict = "below" if held else "NOT below"
    result = f"loss {losses[0]:.2f} -> {losses[-1]:.4f} in {seconds:.0f} s ({verdict} 0.1)"
    rows = [("overfit", f"{sizes['overfit_steps']} steps on one batch of 8, {amp}", result)]
    pipeline = step.pipeline
    pipeline.model.eval()
    with torch.no_grad():
        output = pipeline.forward(dict(batch))
    log_probs, lengths = output["log_probs"].float().cpu(), output["log_probs_length"].cpu()
    for name, make in decoder_factories(texts).items():
        try:
            decoder = make()
        except ImportError as error:
            rows.append(("decoder", name, f"skipped: {error}"))
            continue
        start = time.perf_counter()
        hypotheses = decoder.decode_hypotheses(log_probs, lengths)
        milliseconds = (time.perf_counter() - start) * 1000 / len(texts)
        wer, cer = corpus_error_rates(texts, [h.text for h in hypotheses])
        rows.append(
            (
                "decoder",
                name,
                f"WER {100 * wer:.1f}%, CER {100 * cer:.1f}%, {milliseconds:.1f} ms/utt",
            )
        )
    return rows, held


def bigram_arpa(texts: list[str], path: Path) -> Path:
    """A small bigram ARPA LM of `texts` (KenLM needs two orders), enough to run the LM
    decoders: uniform unigrams, and each bigram seen in the texts at log10 P = -0.3."""
    sentences = [["<s>", *text.split(), "</s>"] for text in texts]
    words = sorted({word for sentence in sentences for word in sentence} | {"<unk>"})
    pairs = sorted({pair for sentence in sentences for pair in pairwise(sentence)})
    lines = ["\\data\\", f"ngram 1={len(words)}", f"ngram 2={len(pairs)}", "", "\\1-grams:"]
    lines += [f"{-math.log10(len(words)):.4f}\t{word}\t-0.3" for word in words]
    lines += ["", "\\2-grams:", *(f"-0.3\t{a} {b}" for a, b in pairs), "", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


def decoder_factories(texts: list[str]) -> dict[str, Callable]:
    lm = bigram_arpa(texts, Path(tempfile.mkdtemp()) / "bigram.arpa")

    def pyctcdecode():
        from src.decoding import LMBeamSearchDecoder

        return LMBeamSearchDecoder(ENCODER, lm_path=lm, beam_width=50)

    def flashlight():
        from src.decoding import FlashlightDecoder

        return FlashlightDecoder(ENCODER, lm_path=lm, beam_width=50)

    return {
        "argmax": lambda: ArgmaxDecoder(ENCODER),
        "hand-written beam search (beam 50)": lambda: BeamSearchDecoder(ENCODER, beam_width=50),
        "pyctcdecode + bigram LM (beam 50)": pyctcdecode,
        "flashlight + bigram LM (beam 50)": flashlight,
    }


SIZES = {
    "full": {
        "model": [],
        "batch": 32,
        "seconds": 12.0,
        "memory_batches": [16, 32, 64, 128],
        "overfit_steps": 200,
    },
    "smoke": {
        "model": ["model.rnn_layers=1", "model.rnn_hidden=32", "model.conv_channels=[4,4]"],
        "batch": 2,
        "seconds": 1.0,
        "memory_batches": [2],
        "overfit_steps": 3,
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the code paths only")
    parser.add_argument("--speech", type=Path, help="audio + <id>.txt for the overfit")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = SIZES["smoke" if args.smoke else "full"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no CUDA)"
    rows: list[Row] = [
        ("device", name, f"torch {torch.__version__}, bf16 native: {native_bf16(device)}")
    ]
    rows += throughput_rows(device, sizes, repeats=2 if args.smoke else 10)
    rows += memory_rows(device, sizes)
    rows += loader_rows(device, 2.0 if args.smoke else 20.0)
    overfit_rows, held = overfit_and_decode_rows(device, sizes, args.speech)
    rows += overfit_rows
    table = "\n".join(
        [
            "| what | setting | measured |",
            "|---|---|---|",
            *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        ]
    )
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0 if held or args.smoke else 1


if __name__ == "__main__":
    raise SystemExit(main())
