"""Hour-long audio: peak memory, real-time factor and WER of `transcribe.py` on one long file.

    python -m bench.long_audio --checkpoint saved/synthetic/model_best.pth --minutes 5 60 \
        [--manifest data/synthetic/test.jsonl] [--speakers S ...] [--decoder argmax] \
        [--transcribe KEY=VALUE ...]   # e.g. pause_seconds=0.3 min_chunk_seconds=12

Builds each long recording by concatenating the manifest's utterances (cycling through them)
into one 16-bit FLAC, written block by block. `transcribe.py` then runs on it in a subprocess,
whose peak resident memory (`ru_maxrss` from `wait4`) and wall time are measured: the peak
should not grow with the length. Its WER against the concatenated references is compared
with decoding each utterance alone (the same checkpoint and decoder).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
from hydra import compose, initialize_config_dir

from src.datasets.manifest import read_manifest, select_speakers
from src.decoding import CTCDecoder
from src.metrics import error_rate, word_edits
from src.trainer.pipeline import BatchPipeline
from src.trainer.restore import load_trained_model
from src.transcription.cli import DECODERS, build_decoder
from src.utils.audio import load_audio

REPO = Path(__file__).resolve().parents[1]


def build_recording(entries: list[dict], seconds: float, path: Path) -> list[int]:
    """Write utterances one after another until `seconds`; returns their indices in order."""
    order, written = [], 0
    with sf.SoundFile(path, "w", 16000, 1, "PCM_16", format="FLAC") as out:
        while written < seconds * 16000:
            index = len(order) % len(entries)
            audio = load_audio(entries[index]["path"]).numpy()
            out.write(audio)
            written += len(audio)
            order.append(index)
    return order


@torch.no_grad()
def decode_alone(pipeline: BatchPipeline, decoder: CTCDecoder, path: str) -> str:
    """One utterance the way `inference.py` decodes it: the whole file in one pass."""
    audio = load_audio(path)
    batch = pipeline.forward({"audio": audio[None], "audio_length": torch.tensor([len(audio)])})
    return decoder.decode_hypotheses(batch["log_probs"].float(), batch["log_probs_length"])[0].text


def run_transcribe(arguments: list[str]) -> tuple[dict, float, float]:
    """(the JSON result, peak RSS in MB, wall seconds) of one transcribe.py run."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "transcribe.py", *arguments, "format=json", "progress=false"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"transcribe.py failed (exit {os.waitstatus_to_exitcode(status)})")
    return json.loads(output), usage.ru_maxrss / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--manifest", type=Path, default=Path("data/synthetic/test.jsonl"))
    parser.add_argument("--speakers", nargs="+", help="only these speakers' utterances")
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 60.0])
    parser.add_argument("--decoder", default="argmax", choices=sorted(DECODERS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--transcribe", nargs="+", default=[], help="transcribe.py overrides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    entries = select_speakers(read_manifest(args.manifest), args.speakers)
    if not entries:
        raise SystemExit(f"{args.manifest}: no utterances (of speakers {args.speakers})")
    common = [f"model={Path(args.checkpoint).resolve()}", f"decoder={args.decoder}"]
    common += [f"num_threads={args.threads}", *args.transcribe]
    with tempfile.TemporaryDirectory(prefix="long-audio-") as folder:
        runs = []
        for minutes in args.minutes:
            path = Path(folder) / f"{minutes:g}min.flac"
            order = build_recording(entries, minutes * 60, path)
            result, peak, wall = run_transcribe([*common, f"audio={path}"])
            runs.append((minutes, order, result, peak, wall))
    trained = load_trained_model(args.checkpoint)
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("transcribe", overrides=["checkpoint=x", "audio=x", *args.transcribe])
    decoder = build_decoder(cfg.decoders, args.decoder, trained.text_encoder)
    pipeline = BatchPipeline(trained.model, trained.features, torch.device("cpu"))
    used = sorted({index for _, order, *_ in runs for index in order})
    hypotheses = {index: decode_alone(pipeline, decoder, entries[index]["path"]) for index in used}
    references = {index: trained.text_encoder.normalize(entries[index]["text"]) for index in used}
    print(f"{args.manifest}: {len(entries)} utterances; decoder {args.decoder}")
    print(
        f"{'minutes':>8} {'peak RSS':>10} {'wall':>8} {'RTF':>7} {'WER long':>9} {'WER alone':>10}"
    )
    for minutes, order, result, peak, wall in runs:
        reference = " ".join(references[index] for index in order)
        per_utterance = " ".join(hypotheses[index] for index in order)
        long_wer = error_rate(word_edits(reference, result["text"]))
        alone_wer = error_rate(word_edits(reference, per_utterance))
        print(
            f"{minutes:8g} {peak:8.0f} MB {wall:7.1f}s {wall / result['duration']:7.4f} "
            f"{100 * long_wer:8.2f}% {100 * alone_wer:9.2f}%"
        )


if __name__ == "__main__":
    main()
