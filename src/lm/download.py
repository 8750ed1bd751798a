"""The LibriSpeech language models (openslr resource 11), converted to the text encoder's case.

    python -m src.lm.download                                   # 3-gram.pruned.1e-7 + vocab
    python -m src.lm.download --models 3-gram.pruned.3e-7 4-gram --binary
    python -m src.lm.download --base-url https://<mirror>/resources/11

The published files are upper case; the text encoder writes lower case. Each ARPA file is
fetched (resumable, md5-checked), then streamed out of its gzip line by line with every word
lower-cased and the format kept: the `\\data\\` header and its `ngram N=` counts, the
`\\N-grams:` sections, the `\\end\\` marker, and tokens in angle brackets (`<s>`, `</s>`,
`<unk>`) exactly as they were. The conversion also checks the structure (each section holds
as many entries as the header announces, each entry has a probability, N words and at most a
back-off) and that no two words become one. Outputs, under `--out-dir` (data/lm/librispeech):
`<model>.arpa` (lower case), `<model>.bin` with `--binary`, `librispeech-vocab.txt` (lower
case, one word per line, usable as pyctcdecode's unigram list) and the original files in
`downloads/`.
"""

import argparse
import gzip
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from src.lm.tools import ToolError, binarize
from src.utils.download import DownloadError, download
from src.utils.files import atomic_output

logger = logging.getLogger(__name__)

BASE_URL = "https://www.openslr.org/resources/11"
MODELS = ("3-gram.pruned.1e-7", "3-gram.pruned.3e-7", "3-gram", "4-gram")
VOCABULARY = "librispeech-vocab.txt"
# md5 of the openslr files. openslr.org cannot be reached from this project's machines, so
# they come from a public LibriSpeech preparation script (sdrobert/pytorch-database-prep),
# whose dev-clean.tar.gz value matches the md5sum openslr publishes for resource 12.
CHECKSUMS = {
    "3-gram.pruned.1e-7.arpa.gz": "md5:9a0f1325bcaf3a0f7b7be4be10823c2a",
    "3-gram.pruned.3e-7.arpa.gz": "md5:8f67ec741827742eee05799ab7605b50",
    "3-gram.arpa.gz": "md5:74cbb837e582378c26c602e1c8cbcb9c",
    "4-gram.arpa.gz": "md5:6abdcd5b055bd482e4f9defe91d40408",
    VOCABULARY: "md5:bf3cc7a50112831ed8b0afa40cae96a5",
}

_SECTION = re.compile(r"\\(\d+)-grams:")
_COUNT = re.compile(r"ngram (\d+)=(\d+)")


class ArpaFormatError(ValueError):
    """The file is not a well-formed ARPA model; the message names the file and line."""


def lowercase_words(words: Iterable[str]) -> list[str]:
    """Lower-case every word but markup tokens in angle brackets (<s>, </s>, <unk>, <UNK>)."""
    return [word if word.startswith("<") and word.endswith(">") else word.lower() for word in words]


def _lowercase_entry(line: str, order: int) -> str | None:
    """'<log10 prob> <w1 .. wN> [<back-off>]' with its words lower-cased, tab-separated as
    ARPA writes it; None if `line` is not an `order`-gram entry."""
    fields = line.split("\t")
    if len(fields) in (2, 3) and fields[1].count(" ") == order - 1:
        words = fields[1]  # the fast path: the usual tab-separated entry
        fields[1] = words.lower() if "<" not in words else " ".join(lowercase_words(words.split()))
    else:
        fields = line.split()
        if len(fields) not in (order + 1, order + 2):
            return None
        fields[1 : order + 1] = [" ".join(lowercase_words(fields[1 : order + 1]))]
    try:
        for number in (fields[0], *fields[2:]):  # the log10 probability and the back-off
            float(number)
    except ValueError:
        return None
    return "\t".join(fields)


def lowercase_arpa(lines: Iterable[str], name: str = "<arpa>") -> Iterator[str]:
    """Yield the ARPA model of `lines` with its words lower-cased, checking its structure.

    Lines before `\\data\\` pass through unchanged; entries are written back tab-separated as
    ARPA files are (probability, words, optional back-off), with the numbers as they were.
    """
    counts: dict[int, int] = {}
    order = 0  # the n-gram section being read; 0 before the first one
    seen = 0  # entries read in that section
    unigrams: dict[str, str] = {}  # lower-case word -> the original, to catch collisions
    state = "preamble"

    def fail(line_number: int, problem: str) -> ArpaFormatError:
        return ArpaFormatError(f"{name}:{line_number}: {problem}")

    def close_section(line_number: int) -> None:
        if order and seen != counts[order]:
            announced = f"{counts[order]} {order}-grams"
            raise fail(line_number, f"the header announces {announced}, the section has {seen}")

    line_number = 0
    for line_number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if state == "section" and line and line[0] != "\\":  # an entry: most lines
            entry = _lowercase_entry(line, order)
            if entry is None:
                raise fail(line_number, f"not a {order}-gram entry: {line[:80]!r}")
            if order == 1:
                word, original = entry.split("\t")[1], line.split()[1]
                if word in unigrams:
                    both = f"{unigrams[word]!r} and {original!r}"
                    raise fail(line_number, f"{both} would both become {word!r}")
                unigrams[word] = original
            seen += 1
            yield entry + "\n"
        elif state == "preamble":
            if line == "\\data\\":
                state = "header"
            yield raw if raw.endswith("\n") else raw + "\n"
        elif not line:
            yield "\n"
        elif state == "header" and (match := _COUNT.fullmatch(line)):
            counts[int(match[1])] = int(match[2])
            yield line + "\n"
        elif match := _SECTION.fullmatch(line):
            close_section(line_number)
            if int(match[1]) != order + 1 or order + 1 not in counts:
                raise fail(line_number, f"unexpected section {line} (header counts: {counts})")
            order, seen, state = int(match[1]), 0, "section"
            yield line + "\n"
        elif line == "\\end\\" and state == "section":
            close_section(line_number)
            if order != max(counts):
                raise fail(line_number, f"\\end\\ after the {order}-grams of a {max(counts)}-gram")
            state = "end"
            yield line + "\n"
        else:
            raise fail(line_number, f"unexpected line {line[:80]!r} ({state})")
    if state != "end":
        missing = "\\data\\" if state == "preamble" else "\\end\\"
        raise ArpaFormatError(f"{name}:{line_number}: no {missing} (truncated or not ARPA)")


def _write_atomically(lines: Iterable[str], destination: Path) -> None:
    with atomic_output(destination) as partial, partial.open("w", encoding="utf-8") as out:
        out.writelines(lines)


def convert_arpa(archive: Path, destination: Path) -> Path:
    """Gunzip an upper-case ARPA model into a checked lower-case copy."""
    try:
        with gzip.open(archive, "rt", encoding="utf-8") as lines:
            _write_atomically(lowercase_arpa(lines, str(archive)), destination)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ArpaFormatError(f"{archive}: cannot read it as gzipped text ({error})") from error
    return destination


def convert_vocabulary(source: Path, destination: Path) -> Path:
    """Lower-case a word list, one word per line (blank lines dropped)."""
    with source.open(encoding="utf-8") as lines:
        words = (f"{word}\n" for word in lowercase_words(line.strip() for line in lines) if word)
        _write_atomically(words, destination)
    return destination


def fetch_librispeech_lm(
    models: Sequence[str] = ("3-gram.pruned.1e-7",),
    out_dir: str | Path = "data/lm/librispeech",
    base_url: str = BASE_URL,
    checksums: Mapping[str, str | None] = CHECKSUMS,
    binary: bool = False,
) -> dict[str, Path]:
    """Download and convert `models` and the vocabulary; returns {name: converted path}.

    Files already converted are kept as they are (every output is renamed into place only
    once complete), so a second run fetches nothing.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown LibriSpeech LMs {unknown}; choose from {list(MODELS)}")
    out_dir = Path(out_dir)
    outputs = {}
    for file_name in [f"{model}.arpa.gz" for model in models] + [VOCABULARY]:
        is_arpa = file_name.endswith(".arpa.gz")
        target = out_dir / (file_name.removesuffix(".gz") if is_arpa else file_name)
        if not target.is_file():
            original = download(
                f"{base_url.rstrip('/')}/{file_name}",
                out_dir / "downloads" / file_name,
                checksums.get(file_name),
            )
            (convert_arpa if is_arpa else convert_vocabulary)(original, target)
            logger.info("%s -> %s", original, target)
        outputs[target.name] = target
        if is_arpa and binary:
            outputs[target.stem + ".bin"] = _binarize(target)
    return outputs


def _binarize(arpa: Path) -> Path:
    """The KenLM trie binary of a converted model (smallest on disk, fast to load)."""
    binary = arpa.with_suffix(".bin")
    if not binary.is_file():
        binarize(arpa, binary, data_structure="trie")
    return binary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Download the LibriSpeech LMs (openslr 11) and lower-case them."
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["3-gram.pruned.1e-7"])
    parser.add_argument("--out-dir", type=Path, default=Path("data/lm/librispeech"))
    parser.add_argument("--base-url", default=BASE_URL, help="openslr resource 11 or a mirror")
    parser.add_argument("--binary", action="store_true", help="also build KenLM trie binaries")
    parser.add_argument(
        "--no-checksum",
        action="store_true",
        help="skip the md5 check (the ARPA structure is still checked)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    checksums = {} if args.no_checksum else CHECKSUMS
    try:
        outputs = fetch_librispeech_lm(
            args.models, args.out_dir, args.base_url, checksums, args.binary
        )
    except (DownloadError, ArpaFormatError, ToolError) as error:
        sys.exit(f"error: {error}")
    for path in outputs.values():
        print(path)


if __name__ == "__main__":
    main()
