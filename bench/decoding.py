"""WER against milliseconds per utterance for every decoder over a sweep of beam widths, on the
same cached log-probabilities, in one run: the chart to open when choosing a decoder.

    python -m bench.decoding \\
        --set name="synthetic test" checkpoint=saved/synthetic/model_best.pth partition=test \\
            lm=data/lm/synthetic_3gram.bin unigrams=data/lm/synthetic_3gram_unigrams.txt \\
            params=saved/synthetic/lm_params.yaml \\
        --set name="AN4 dev" cache=saved/an4/log_probs_val.pt lm=data/lm/an4_3gram.bin \\
            unigrams=data/lm/an4_3gram_unigrams.txt params=saved/an4/lm_params.yaml \\
        --out docs/decoding_speed [--repeats 3] [--beams 4 16 100] [--limit N]

A set's log-probabilities come from `cache=` (what `python -m src.tune_lm` writes) or from
`checkpoint=` and `partition=` (computed once, cached beside the checkpoint; `override=` Hydra
overrides of configs/tune_lm.yaml, repeatable, e.g. override=datasets=an4_dev_split).
`params=` holds pyctcdecode's tuned alpha and beta, `flashlight_params=` flashlight's (the
tuner's output with decoders=lm_flashlight; default: `params=`): both rank by logit + alpha ln P
+ beta words, but their searches differ, and so do their best weights. `char_lm=` (with
`char_params=`) adds lexicon-free flashlight with a character LM; without it lexicon-free runs
without an LM.

Writes `<out>.png` (one panel per set), `<out>.csv` and `<out>.md` (the table, and per set the
fastest LM configuration whose WER is at most that of pyctcdecode + LM at beam 100 in one
process, as a ratio to it). Every decoder decodes all utterances in one call after a warm-up
call (which starts the pools); the time is the best of `--repeats`. The table also gives each
single-process decoder's CPU time, which other jobs on a busy machine do not inflate.
"""

import argparse
import csv
import os
import shlex
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import matplotlib
import numpy as np
from hydra import compose, initialize_config_dir

from src.decoding import (
    ArgmaxDecoder,
    BeamSearchDecoder,
    CTCDecoder,
    FlashlightDecoder,
    LMBeamSearchDecoder,
)
from src.decoding.fusion import load_lm_params
from src.decoding.log_prob_cache import LogProbCache
from src.metrics import corpus_error_rates
from src.text_encoder import CTCCharTextEncoder
from src.tune_lm import partition_log_probs

matplotlib.use("Agg")
from matplotlib import pyplot as plt

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
REFERENCE = ("pyctcdecode + LM", 100)  # pyctcdecode's default beam, one process
POOL = 2
WARM_UP_UTTERANCES = 4
NO_LM_BEAMS = [4, 16, 100]
LM_BEAMS = [4, 8, 16, 32, 64, 100, 200]
FLASHLIGHT_BEAMS = [1, 2, 4, 8, 16, 32, 64, 100, 200, 500]
LEXICON_FREE_BEAMS = [4, 16, 32, 64, 100]  # every token extends every hypothesis: slow
SET_KEYS = {"name", "cache", "checkpoint", "partition", "override", "lm", "unigrams", "params"}
SET_KEYS |= {"flashlight_params", "char_lm", "char_params"}


@dataclass
class DataSet:
    name: str
    cache: LogProbCache
    lm: str | None = None
    unigrams: str | None = None
    weights: dict[str, float] = field(default_factory=dict)  # alpha, beta
    flashlight_weights: dict[str, float] = field(default_factory=dict)
    char_lm: str | None = None
    char_weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """Decoders of one kind, one per beam width (None: no beam)."""

    name: str
    build: Callable[[CTCCharTextEncoder, int | None], CTCDecoder]
    beams: list[int | None]
    fused: bool = False  # ranks with a word LM: a candidate for the headline


@dataclass(frozen=True)
class Row:
    set: str
    decoder: str
    beam: int | None
    utterances: int
    ms_per_utterance: float
    utterances_per_second: float
    wer: float
    cer: float
    cpu_ms_per_utterance: float | None  # this process's CPU time (None: a pool did the work)


def parse_set(items: Sequence[str]) -> dict[str, list[str]]:
    spec: dict[str, list[str]] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or key not in SET_KEYS:
            raise SystemExit(f"--set: expected KEY=VALUE with KEY in {sorted(SET_KEYS)}: {item!r}")
        spec.setdefault(key, []).append(value)
    if "name" not in spec or ("cache" in spec) == ("checkpoint" in spec):
        raise SystemExit("--set needs name= and either cache= or checkpoint= (with partition=)")
    return spec


def load_set(spec: dict[str, list[str]]) -> DataSet:
    one = {key: values[-1] for key, values in spec.items()}
    if "cache" in one:
        cache = LogProbCache.load(one["cache"])
    else:
        overrides = [
            f"inferencer.from_pretrained={Path(one['checkpoint']).resolve()}",
            f"tune.partition={one.get('partition', 'val')}",
            *spec.get("override", []),
        ]
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose("tune_lm", overrides=overrides)
        cache = partition_log_probs(cfg)[1]
    return DataSet(
        name=one["name"],
        cache=cache,
        lm=one.get("lm"),
        unigrams=one.get("unigrams"),
        weights=weights(one.get("params")),
        flashlight_weights=weights(one.get("flashlight_params", one.get("params"))),
        char_lm=one.get("char_lm"),
        char_weights=weights(one.get("char_params")),
    )


def weights(params_file: str | None) -> dict[str, float]:
    if params_file is None:
        return {}
    params = load_lm_params(params_file)
    return {"alpha": params["alpha"], "beta": params["beta"]}


def families(data: DataSet, beams: list[int] | None) -> list[Family]:
    """Every decoder of the chart for this set; `beams` replaces every sweep."""
    no_lm = {"beam_prune_logp": -10.0, "token_min_logp": -5.0}
    lm = {"lm_path": data.lm, "unigrams_path": data.unigrams}
    char_lm = {"lm_path": data.char_lm, **data.char_weights} if data.char_lm else {}
    found = [
        Family("argmax", lambda encoder, _: ArgmaxDecoder(encoder), [None]),
        Family(
            "hand-written beam",
            lambda encoder, beam: BeamSearchDecoder(encoder, beam_width=beam, **no_lm),
            beams or NO_LM_BEAMS,
        ),
        Family(
            "pyctcdecode, no LM",
            lambda encoder, beam: LMBeamSearchDecoder(encoder, beam_width=beam),
            beams or NO_LM_BEAMS,
        ),
        Family(
            "flashlight lexicon-free" + (" + char LM" if char_lm else ", no LM"),
            lambda encoder, beam: FlashlightDecoder(
                encoder, lexicon_free=True, beam_width=beam, **char_lm
            ),
            beams or LEXICON_FREE_BEAMS,
        ),
    ]
    if data.lm:
        for processes in (1, POOL):
            pool = "" if processes == 1 else f", pool {processes}"
            found.append(
                Family(
                    f"pyctcdecode + LM{pool}",
                    lambda encoder, beam, p=processes: LMBeamSearchDecoder(
                        encoder, beam_width=beam, num_processes=p, **lm, **data.weights
                    ),
                    beams or LM_BEAMS,
                    fused=True,
                )
            )
            found.append(
                Family(
                    f"flashlight lexicon + LM{pool}",
                    lambda encoder, beam, p=processes: FlashlightDecoder(
                        encoder, beam_width=beam, num_processes=p, **lm, **data.flashlight_weights
                    ),
                    beams or FLASHLIGHT_BEAMS,
                    fused=True,
                )
            )
    return found


def measure(
    decoder: CTCDecoder, arrays: list[np.ndarray], repeats: int
) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds (of this process) of the fastest of `repeats` calls over all
    utterances, and their texts. The CPU time is what other jobs on the machine cannot inflate."""
    with decoder:
        decoder.decode_utterances(arrays[:WARM_UP_UTTERANCES])  # starts a pool, touches the LM
        seconds = cpu_seconds = float("inf")
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            hypotheses = decoder.decode_utterances(arrays)
            seconds = min(seconds, time.perf_counter() - start)
            cpu_seconds = min(cpu_seconds, time.process_time() - cpu_start)
    return seconds, cpu_seconds, [hypothesis.text for hypothesis in hypotheses]


def bench_set(data: DataSet, args: argparse.Namespace) -> list[Row]:
    arrays = data.cache.arrays()[: args.limit]
    references = data.cache.references[: args.limit]
    encoder = CTCCharTextEncoder.from_vocab(data.cache.vocab)
    frames = sum(len(array) for array in arrays)
    print(f"{data.name}: {len(arrays)} utterances, {frames / len(arrays):.0f} frames each")
    rows = []
    for family in families(data, args.beams):
        for beam in family.beams:
            decoder = family.build(encoder, beam)
            seconds, cpu_seconds, texts = measure(decoder, arrays, args.repeats)
            wer, cer = corpus_error_rates(references, texts)
            row = Row(
                data.name,
                family.name,
                beam,
                len(arrays),
                1000 * seconds / len(arrays),
                len(arrays) / seconds,
                wer,
                cer,
                1000 * cpu_seconds / len(arrays) if decoder.num_processes == 1 else None,
            )
            print(
                f"  {family.name:<34} beam {beam or '-':>4}: {row.ms_per_utterance:8.2f} ms/utt"
                f" (CPU {1000 * cpu_seconds / len(arrays):8.2f})"
                f"  WER {100 * wer:6.2f}%  CER {100 * cer:6.2f}%",
                flush=True,
            )
            rows.append(row)
    return rows


def headline(rows: list[Row], fused: set[str]) -> tuple[Row, Row] | None:
    """pyctcdecode + LM at beam 100 in one process, and the fastest fused configuration with
    a WER no higher (None without that reference)."""
    reference = next((r for r in rows if (r.decoder, r.beam) == REFERENCE), None)
    if reference is None:
        return None
    candidates = [r for r in rows if r.decoder in fused and r.wer <= reference.wer]
    return reference, min(candidates, key=lambda row: row.ms_per_utterance)


def speedup(reference: Row, fastest: Row) -> float:
    return reference.ms_per_utterance / fastest.ms_per_utterance


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def draw(axis, rows: list[Row], found: tuple[Row, Row] | None, low: float | None) -> None:
    """One set's curves (a pooled decoder dashed in its own colour), beam widths beside the
    points, the reference and the headline configuration; `low`: only WER below it."""
    colors: dict[str, str] = {}
    for decoder in dict.fromkeys(row.decoder for row in rows):
        points = [row for row in rows if row.decoder == decoder]
        x = [row.ms_per_utterance for row in points]
        y = [100 * row.wer for row in points]
        base, pooled, _ = decoder.partition(", pool")
        (line,) = axis.plot(
            x, y, "--" if pooled else "-", marker="o", markersize=4, label=decoder,
            color=colors.get(base),
        )  # fmt: skip
        colors.setdefault(base, line.get_color())
        for row, xi, yi in zip(points, x, y, strict=True):
            if row.beam is not None and (low is None or yi < low):
                axis.annotate(
                    str(row.beam), (xi, yi), fontsize=6, color=line.get_color(),
                    xytext=(2, 3), textcoords="offset points",
                )  # fmt: skip
    if found:
        reference, fastest = found
        axis.scatter(
            [reference.ms_per_utterance], [100 * reference.wer], s=160, marker="*",
            color="black", zorder=5, label="pyctcdecode + LM, beam 100, 1 process (reference)",
        )  # fmt: skip
        axis.scatter(
            [fastest.ms_per_utterance], [100 * fastest.wer], s=160, facecolors="none",
            edgecolors="red", linewidths=2, zorder=5,
            label=f"fastest at the reference's WER or lower: {speedup(reference, fastest):.1f}x",
        )  # fmt: skip
    axis.set_xscale("log")
    axis.set_xlabel("milliseconds per utterance (log scale)")
    axis.set_ylabel("WER, %")
    axis.grid(True, which="both", alpha=0.3)
    if low is not None:
        best = min(100 * row.wer for row in rows)
        axis.set_ylim(best - 0.1 * (low - best), low)
        shown = [row.ms_per_utterance for row in rows if 100 * row.wer < low]
        axis.set_xlim(min(shown) / 1.5, max(shown) * 1.5)


def plot(rows: list[Row], headlines: dict, path: Path, title: str) -> None:
    """Per set a column: every decoder above, the low-WER end enlarged below."""
    sets = list(dict.fromkeys(row.set for row in rows))
    figure, axes = plt.subplots(2, len(sets), figsize=(8 * len(sets), 11), squeeze=False)
    for column, name in enumerate(sets):
        mine = [row for row in rows if row.set == name]
        draw(axes[0, column], mine, headlines.get(name), None)
        axes[0, column].set_title(f"{name} ({mine[0].utterances} utterances)")
        low = 1.6 * min(100 * row.wer for row in mine) + 1.0  # percentage points
        draw(axes[1, column], mine, headlines.get(name), low)
        axes[1, column].set_title(f"{name}: WER below {low:.1f}%")
        axes[1, column].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    figure.suptitle(textwrap.fill(title, 70 * len(sets) + 40), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


def write_csv(rows: list[Row], path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)


def markdown(rows: list[Row], headlines: dict, title: str, command: str) -> str:
    lines = ["# Decoding speed against WER", "", title + ".", "", f"`{command}`", ""]
    for name in dict.fromkeys(row.set for row in rows):
        mine = [row for row in rows if row.set == name]
        lines += [f"## {name} ({mine[0].utterances} utterances)", ""]
        if headlines.get(name):
            reference, fastest = headlines[name]
            ratio = speedup(reference, fastest)
            lines += [
                f"Fastest LM configuration at a WER no higher than pyctcdecode + LM at beam 100 "
                f"in one process ({100 * reference.wer:.2f}%, "
                f"{reference.ms_per_utterance:.2f} ms/utt): **{fastest.decoder}, beam "
                f"{fastest.beam}**, {100 * fastest.wer:.2f}% WER, "
                f"{fastest.ms_per_utterance:.2f} ms/utt, **{ratio:.1f}x** faster.",
                "",
            ]
        lines += [
            "| decoder | beam | ms / utt | utt / s | WER | CER | CPU ms / utt (1 process) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in mine:
            cpu = "-" if row.cpu_ms_per_utterance is None else f"{row.cpu_ms_per_utterance:.2f}"
            lines.append(
                f"| {row.decoder} | {row.beam or '-'} | {row.ms_per_utterance:.2f} | "
                f"{row.utterances_per_second:,.0f} | {100 * row.wer:.2f}% | {100 * row.cer:.2f}% "
                f"| {cpu} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", nargs="+", action="append", required=True, metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("docs/decoding_speed"))
    parser.add_argument("--repeats", type=int, default=1, help="time: the best of this many")
    parser.add_argument("--beams", type=int, nargs="+", help="one sweep for every beam decoder")
    parser.add_argument("--limit", type=int, help="only the first N utterances of each set")
    parser.add_argument("--note", default="", help="added to the title, e.g. the checkpoints")
    args = parser.parse_args(argv)
    data_sets = [load_set(parse_set(items)) for items in args.set]

    rows, headlines = [], {}
    for data in data_sets:
        found = bench_set(data, args)
        fused = {family.name for family in families(data, args.beams) if family.fused}
        headlines[data.name] = headline(found, fused)
        rows += found
    title = (
        f"{cpu_model()}, {os.cpu_count()} cores, {date.today().isoformat()}; one run, "
        f"time = best of {args.repeats}" + (f"; {args.note}" if args.note else "")
    )
    command = shlex.join(["python", "-m", "bench.decoding", *sys.argv[1:]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png, table = args.out.with_suffix(".png"), args.out.with_suffix(".md")
    plot(rows, headlines, png, title)
    write_csv(rows, args.out.with_suffix(".csv"))
    table.write_text(markdown(rows, headlines, title, command) + "\n", encoding="utf-8")
    for name, found in headlines.items():
        if found:
            reference, fastest = found
            print(
                f"{name}: {fastest.decoder} at beam {fastest.beam} is "
                f"{speedup(reference, fastest):.1f}x faster than "
                f"pyctcdecode + LM at beam 100 (WER {100 * fastest.wer:.2f}% vs "
                f"{100 * reference.wer:.2f}%)"
            )
    print(f"wrote {png}, {args.out.with_suffix('.csv')}, {table}")


if __name__ == "__main__":
    main()
