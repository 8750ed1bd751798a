"""Utterances per second of every decoder on the same saved log-probabilities, in one run.

    python -m bench.decoding --cache saved/<run>/log_probs_val.pt --lm data/lm/<name>.arpa
    python -m bench.decoding --checkpoint saved/<run>/model_best.pth [--partition val] \
        [--lm ...] [Hydra overrides of configs/tune_lm.yaml, e.g. datasets=an4_dev_split]

A cache is what `python -m src.tune_lm` writes (`<checkpoint folder>/log_probs_<partition>
.pt`); with `--checkpoint` the model runs once to make it (or reuses it). Compares argmax, the
hand-written prefix beam search, and pyctcdecode without and with the LM, single process and
pooled, all at the same beam width and pruning, and prints the ratios and each one's WER.
"""

import argparse
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from src.decoding import ArgmaxDecoder, BeamSearchDecoder, CTCDecoder, LMBeamSearchDecoder
from src.decoding.log_prob_cache import LogProbCache
from src.metrics import corpus_error_rates
from src.text_encoder import CTCCharTextEncoder
from src.tune_lm import partition_log_probs

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def load_cache(args: argparse.Namespace) -> LogProbCache:
    if args.cache:
        return LogProbCache.load(args.cache)
    overrides = [
        f"inferencer.from_pretrained={Path(args.checkpoint).resolve()}",
        f"tune.partition={args.partition}",
        *args.overrides,
    ]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("tune_lm", overrides=overrides)
    return partition_log_probs(cfg)[1]


def decoders(args: argparse.Namespace, encoder: CTCCharTextEncoder) -> dict[str, CTCDecoder]:
    pruning = {"token_min_logp": args.token_min_logp, "beam_prune_logp": args.beam_prune_logp}
    beam = {"beam_width": args.beam_width, **pruning}
    lm = {
        "lm_path": args.lm,
        "unigrams_path": args.unigrams,
        "alpha": args.alpha,
        "beta": args.beta,
    }
    candidates = {
        "argmax": ArgmaxDecoder(encoder),
        "hand-written beam search": BeamSearchDecoder(encoder, **beam),
        "pyctcdecode, no LM": LMBeamSearchDecoder(encoder, **beam),
        f"pyctcdecode, no LM, pool {args.processes}": LMBeamSearchDecoder(
            encoder, **beam, num_processes=args.processes
        ),
    }
    if args.lm:
        candidates["pyctcdecode + LM"] = LMBeamSearchDecoder(encoder, **beam, **lm)
        candidates[f"pyctcdecode + LM, pool {args.processes}"] = LMBeamSearchDecoder(
            encoder, **beam, **lm, num_processes=args.processes
        )
    return candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cache", help="log-probabilities saved by src.tune_lm")
    source.add_argument("--checkpoint", help="a checkpoint: compute (or reuse) its cache")
    parser.add_argument("--partition", default="val", help="with --checkpoint")
    parser.add_argument("--lm", help="ARPA or KenLM binary for the LM rows")
    parser.add_argument("--unigrams", help="word list for a binary LM")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--beam-width", type=int, default=100)
    parser.add_argument("--token-min-logp", type=float, default=-5.0)
    parser.add_argument("--beam-prune-logp", type=float, default=-10.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--limit", type=int, help="only the first N utterances")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, with --checkpoint")
    args = parser.parse_args()

    cache = load_cache(args)
    arrays = cache.arrays()[: args.limit]
    references = cache.references[: args.limit]
    frames = sum(len(array) for array in arrays)
    print(
        f"{len(arrays)} utterances, {frames} frames ({frames / len(arrays):.0f} per utterance); "
        f"beam width {args.beam_width}, token_min_logp {args.token_min_logp}, "
        f"beam_prune_logp {args.beam_prune_logp}"
    )
    encoder = CTCCharTextEncoder.from_vocab(cache.vocab)
    rows = {}
    for name, decoder in decoders(args, encoder).items():
        start = time.perf_counter()
        hypotheses = decoder.decode_utterances(arrays)
        seconds = time.perf_counter() - start
        texts = [hypothesis.text for hypothesis in hypotheses]
        rows[name] = (len(arrays) / seconds, texts, corpus_error_rates(references, texts)[0])

    baseline = rows["pyctcdecode, no LM"][0]
    print(f"{'decoder':<32} {'utt/s':>9} {'vs pyctcdecode no LM':>21} {'WER':>8}")
    for name, (speed, _, wer) in rows.items():
        print(f"{name:<32} {speed:9.1f} {speed / baseline:20.2f}x {100 * wer:7.2f}%")
    same = sum(
        a == b
        for a, b in zip(
            rows["hand-written beam search"][1], rows["pyctcdecode, no LM"][1], strict=True
        )
    )
    print(
        f"hand-written beam search / pyctcdecode (no LM, 1 process, beam {args.beam_width}): "
        f"{rows['hand-written beam search'][0] / baseline:.2f}x faster; "
        f"same best hypothesis for {same}/{len(arrays)} utterances"
    )


if __name__ == "__main__":
    main()
