"""Word-start error of the word timestamps against eSpeak NG's word events, per decoder.

    python -m bench.timestamps --checkpoint saved/synthetic/model_best.pth \
        [--corpus data/synthetic --split test] [--decoders argmax beam lm] [overrides]
    # e.g. with the LM: --decoders argmax lm decoders.LM.lm_path=data/lm/synthetic_3gram.bin

The embedded corpus (version 3) records where eSpeak starts each word (`word_starts` in its
manifests; `make corpus` regenerates an older one). Every utterance runs through the same
chunked log-probabilities as `transcribe.py`; each decoder's words are aligned by CTC forced
alignment, paired with the reference words they equal (jiwer's alignment), and their start
compared with eSpeak's. The `reference` row aligns the reference text itself, which measures
the timing alone, without recognition errors. Prints the median, 90th percentile and mean
(signed: positive = late) start error in ms, and the share of words timed.
"""

import argparse
import json
from pathlib import Path

import jiwer
import numpy as np
import torch
from hydra import compose, initialize_config_dir

from src.decoding.timestamps import WordTiming, align_words
from src.trainer.restore import load_trained_model
from src.transcription import Transcriber
from src.transcription.cli import build_decoder
from src.transcription.transcriber import decode_segments
from src.utils.audio import read_audio_blocks

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def start_errors(
    words: list[WordTiming], reference: list[str], starts: list[float | None]
) -> list[float]:
    """Signed start errors (s) of the hypothesis words that equal a reference word with a
    known start."""
    hypothesis = [word.word for word in words]
    if not hypothesis:
        return []
    output = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    errors = []
    for chunk in output.alignments[0]:
        if chunk.type != "equal":
            continue
        for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
            truth = starts[chunk.ref_start_idx + offset]
            if truth is not None:
                errors.append(words[chunk.hyp_start_idx + offset].start - truth)
    return errors


def summary(name: str, errors: list[float], n_words: int) -> str:
    if not errors:
        return f"{name:>10}  no word of its text equals a reference word"
    absolute = np.abs(errors) * 1000
    share = f"{len(errors):6d} / {n_words} ({len(errors) / n_words:.0%})"
    return (
        f"{name:>10}  {np.median(absolute):8.1f}  {np.percentile(absolute, 90):8.1f}  "
        f"{np.mean(errors) * 1000:+8.1f}  {share}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--decoders", nargs="+", default=["argmax", "beam"])
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of configs/transcribe.yaml")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("transcribe", overrides=["checkpoint=x", "audio=x", *args.overrides])
    trained = load_trained_model(args.checkpoint)
    encoder = trained.text_encoder
    decoders = {name: build_decoder(cfg.decoders, name, encoder) for name in args.decoders}
    transcriber = Transcriber(trained, decoders[args.decoders[0]])
    manifest = args.corpus / f"{args.split}.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    if not records or "word_starts" not in records[0]:
        raise SystemExit(f"{manifest} has no word_starts: regenerate it (`make corpus`)")
    records = records[: args.limit]
    errors: dict[str, list[float]] = {name: [] for name in ["reference", *decoders]}
    n_words = 0
    for record in records:
        blocks = read_audio_blocks(args.corpus / record["path"], transcriber.sample_rate)
        windows = list(transcriber.log_probs(blocks))
        frames = np.concatenate([window.log_probs for window in windows])
        reference = encoder.normalize(record["text"])
        starts = record["word_starts"]
        n_words += sum(start is not None for start in starts)
        words = align_words(frames, reference, encoder, transcriber.frame_seconds)
        errors["reference"] += start_errors(words, reference.split(), starts)
        for name, decoder in decoders.items():
            segments = transcriber.segments(windows)
            _, words = decode_segments(segments, decoder, encoder, transcriber.frame_seconds)
            errors[name] += start_errors(words, reference.split(), starts)
    print(
        f"{args.split} split of {args.corpus}: {len(records)} utterances, {n_words} words with "
        f"an eSpeak start; frame stride {transcriber.frame_seconds * 1000:.0f} ms"
    )
    print(f"{'decoder':>10}  {'median':>8}  {'p90':>8}  {'mean':>8}  words timed (ms)")
    for name, values in errors.items():
        print(summary(name, values, n_words))


if __name__ == "__main__":
    main()
