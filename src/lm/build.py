"""Word (or character) n-gram language models from TRAINING transcripts, with KenLM's lmplz
and build_binary.

    python -m src.lm.build --manifest data/synthetic/train.jsonl --name synthetic
    python -m src.lm.build --manifest data/synthetic/train.jsonl --name synthetic \
        --units chars --order 6   # for lexicon-free flashlight decoding
    python -m src.lm.build --manifest ../shared/data/an4/manifest.jsonl --name an4 \\
        --exclude-speakers-from configs/datasets/an4_dev_split.yaml
    python -m src.lm.build --text corpus.txt --name mine --order 4 --prune 0 0 1

Text is normalised exactly like the text encoder (lower-case a-z, space, apostrophe), one
utterance per line. Writes `<out-dir>/<name>_<order>gram.arpa`, `.bin` (KenLM binary),
`_unigrams.txt` (the distinct words, for pyctcdecode) and `_corpus.txt` (the text it was
estimated on). With `--units chars` the "words" are the characters, the space spelled `|`
(`<name>_chars_<order>gram.*`).

Held-out text never enters an LM: a manifest or text file whose name says dev, val, test or
eval is refused; manifest lines whose `split` or `subset` field says so are dropped (and
counted in the log); speakers are filtered before any text is read into the corpus.
"""

import argparse
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from src.datasets.manifest import held_out_speakers, iter_jsonl, select_speakers
from src.lm.tools import ToolError, binarize, check_estimate_options, estimate_arpa
from src.text_encoder import normalize_text

logger = logging.getLogger(__name__)

CHAR_SEPARATOR = "|"  # the space in a character LM (flashlight's name, src/decoding/flashlight.py)
HELD_OUT_WORDS = frozenset({"dev", "val", "valid", "validation", "test", "eval", "heldout"})


class LMBuildError(RuntimeError):
    """Text that must not or cannot make an LM (held-out, unknown speakers, nothing left)."""


@dataclass(frozen=True)
class LanguageModel:
    arpa: Path
    binary: Path
    unigrams: Path
    corpus: Path
    n_sentences: int
    n_words: int


def names_held_out_text(name: str) -> bool:
    """True for names such as 'test', 'dev-clean', 'an4_val', 'validation.jsonl'."""
    return not HELD_OUT_WORDS.isdisjoint(re.split(r"[^a-z0-9]+", name.lower()))


def _check_training_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if names_held_out_text(path.stem):
        raise LMBuildError(f"{path}: its name marks held-out (dev/val/test) text, not for an LM")


def manifest_transcripts(
    manifest: str | Path,
    speakers: Sequence[str] | None = None,
    exclude_speakers: Sequence[str] | None = None,
) -> list[str]:
    """The `text` of a JSONL manifest's training utterances, selected by speaker.

    Lines whose `split` or `subset` names a held-out split are dropped and counted in the log.
    """
    manifest = Path(manifest)
    _check_training_file(manifest)
    records, held_out = [], {}
    try:
        lines = list(iter_jsonl(manifest))
    except ValueError as error:
        raise LMBuildError(str(error)) from None
    for location, record in lines:
        if "text" not in record:
            raise LMBuildError(f"{location}: bad manifest line (no 'text')")
        speaker = record.get("speaker")
        records.append(
            {
                "text": str(record["text"]),
                "speaker": None if speaker is None else str(speaker),
                "split": str(record.get("split") or record.get("subset") or ""),
            }
        )
    try:  # speakers first: an excluded speaker may have only held-out lines
        records = select_speakers(records, speakers, exclude_speakers)
    except ValueError as error:
        raise LMBuildError(f"{manifest}: {error}") from None
    texts = []
    for record in records:
        if names_held_out_text(record["split"]):
            held_out[record["split"]] = held_out.get(record["split"], 0) + 1
        else:
            texts.append(record["text"])
    if held_out:
        logger.info("%s: left out held-out utterances %s", manifest, held_out)
    return texts


def text_file_lines(path: str | Path) -> list[str]:
    """The lines of a plain text corpus (one sentence per line)."""
    path = Path(path)
    _check_training_file(path)
    return path.read_text(encoding="utf-8").splitlines()


def normalized_corpus(texts: Iterable[str]) -> list[str]:
    """Each text normalised like the text encoder; texts left empty are dropped."""
    return [sentence for sentence in map(normalize_text, texts) if sentence]


def spell_characters(sentence: str) -> str:
    """'red car' -> 'r e d | c a r': a character LM's sentence."""
    return " ".join(CHAR_SEPARATOR if char == " " else char for char in sentence)


def build_lm(
    texts: Iterable[str],
    out_dir: str | Path,
    name: str,
    order: int = 3,
    units: str = "words",
    prune: Sequence[int] = (),
    discount_fallback: bool = True,
    memory: str = "1G",
    data_structure: str = "probing",
) -> LanguageModel:
    """Normalise `texts` (`units="chars"`: spell them), estimate the ARPA model, binarise it and
    list the unigrams."""
    check_estimate_options(order, prune)
    if units not in ("words", "chars"):
        raise ValueError(f"units must be 'words' or 'chars', got {units!r}")
    sentences = normalized_corpus(texts)
    if not sentences:
        raise LMBuildError(f"no text left for the {name!r} LM after normalisation")
    if units == "chars":
        sentences = [spell_characters(sentence) for sentence in sentences]
        name = f"{name}_chars"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{name}_{order}gram"
    model = LanguageModel(
        arpa=stem.with_name(stem.name + ".arpa"),
        binary=stem.with_name(stem.name + ".bin"),
        unigrams=stem.with_name(stem.name + "_unigrams.txt"),
        corpus=stem.with_name(stem.name + "_corpus.txt"),
        n_sentences=len(sentences),
        n_words=sum(len(sentence.split()) for sentence in sentences),
    )
    model.corpus.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    words = sorted({word for sentence in sentences for word in sentence.split()})
    model.unigrams.write_text("\n".join(words) + "\n", encoding="utf-8")
    estimate_arpa(model.corpus, model.arpa, order, prune, discount_fallback, memory)
    binarize(model.arpa, model.binary, data_structure)
    counts = f"{model.n_sentences} sentences, {model.n_words} words, {len(words)} distinct"
    logger.info("%s: %s -> %s, %s, %s", name, counts, model.arpa, model.binary, model.unigrams)
    return model


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build a word n-gram LM from training transcripts (KenLM).",
        epilog="Outputs: <out-dir>/<name>_<order>gram.arpa, .bin, _unigrams.txt, _corpus.txt",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=Path, help="JSONL manifest of training utterances")
    source.add_argument("--text", type=Path, help="plain text corpus, one sentence per line")
    parser.add_argument("--speakers", nargs="+", help="keep only these manifest speakers")
    parser.add_argument("--exclude-speakers", nargs="+", default=[], help="drop these speakers")
    parser.add_argument(
        "--exclude-speakers-from",
        type=Path,
        metavar="DATASET_CONFIG",
        help="drop the speakers this dataset config holds out (train.exclude_speakers and the "
        "other partitions' speakers), e.g. configs/datasets/an4_dev_split.yaml",
    )
    parser.add_argument("--name", required=True, help="output file prefix, e.g. synthetic")
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument(
        "--units",
        choices=["words", "chars"],
        default="words",
        help="chars: a character LM (space spelled '|') for lexicon-free flashlight decoding",
    )
    parser.add_argument("--prune", type=int, nargs="+", default=[], help="e.g. 0 0 1")
    parser.add_argument(
        "--discount-fallback",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fixed discounts where a small corpus breaks the closed-form estimate",
    )
    parser.add_argument("--memory", default="1G", help="lmplz sorting memory (-S)")
    parser.add_argument("--binary-type", choices=["probing", "trie"], default="probing")
    parser.add_argument("--out-dir", type=Path, default=Path("data/lm"))
    args = parser.parse_args(argv)
    speaker_options = args.speakers or args.exclude_speakers or args.exclude_speakers_from
    if args.text is not None and speaker_options:
        parser.error("speaker options need --manifest")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.manifest is not None:
            exclude = list(args.exclude_speakers)
            if args.exclude_speakers_from is not None:
                exclude += held_out_speakers(args.exclude_speakers_from)
            texts = manifest_transcripts(args.manifest, args.speakers, exclude)
        else:
            texts = text_file_lines(args.text)
        build_lm(
            texts,
            args.out_dir,
            args.name,
            order=args.order,
            units=args.units,
            prune=args.prune,
            discount_fallback=args.discount_fallback,
            memory=args.memory,
            data_structure=args.binary_type,
        )
    except (LMBuildError, ToolError, ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
