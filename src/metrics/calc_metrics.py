"""Corpus WER/CER of a folder of predicted transcripts against a folder of references.

Both folders hold one `<utterance id>.txt` file per utterance; files are paired by stem and both
texts are normalised exactly as the text encoder normalises training targets.
"""

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.metrics.error_rates import (
    char_edits,
    corpus_edits,
    error_rate,
    utterance_error_rates,
    word_edits,
)
from src.text_encoder.ctc_char_text_encoder import normalize_text
from src.utils.files import read_text as read_utf8

MAX_LISTED_IDS = 10


class MetricsInputError(Exception):
    """A folder or file that cannot be evaluated; the message names it."""


@dataclass(frozen=True)
class MetricsReport:
    """Corpus and mean per-utterance error rates (fractions) of one predictions folder."""

    wer: float
    cer: float
    mean_utterance_wer: float
    mean_utterance_cer: float
    n_utterances: int
    missing_predictions: list[str] = field(default_factory=list)
    extra_predictions: list[str] = field(default_factory=list)
    total_word_edits: int = 0
    total_words: int = 0
    total_char_edits: int = 0
    total_chars: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: rates as fractions, sorted id lists."""
        return {
            "wer": self.wer,
            "cer": self.cer,
            "mean_utterance_wer": self.mean_utterance_wer,
            "mean_utterance_cer": self.mean_utterance_cer,
            "n_utterances": self.n_utterances,
            "missing_predictions": sorted(self.missing_predictions),
            "extra_predictions": sorted(self.extra_predictions),
        }


def list_text_files(folder: Path, role: str) -> dict[str, Path]:
    """`{stem: path}` of the `.txt` files directly in `folder`; missing or empty is an error."""
    folder = Path(folder)
    if not folder.exists():
        raise MetricsInputError(f"{role} folder not found: {folder}")
    if not folder.is_dir():
        raise MetricsInputError(f"{role} path is not a folder: {folder}")
    files = {path.stem: path for path in folder.iterdir() if path.suffix == ".txt"}
    files = {stem: path for stem, path in files.items() if path.is_file()}
    if not files:
        raise MetricsInputError(f"{role} folder has no .txt files: {folder}")
    return files


def read_text(path: Path) -> str:
    """A UTF-8 text file; unreadable or non-UTF-8 content is an error naming the file."""
    try:
        return read_utf8(path)
    except ValueError as error:  # names path:line and the byte
        raise MetricsInputError(str(error)) from None
    except OSError as error:
        raise MetricsInputError(f"cannot read {path}: {error.strerror or error}") from None


def compute_metrics(predictions_dir: Path, transcriptions_dir: Path) -> MetricsReport:
    """Pair `<id>.txt` files by stem and score every reference (missing prediction = empty)."""
    references = list_text_files(transcriptions_dir, "transcriptions")
    predictions = list_text_files(predictions_dir, "predictions")

    pairs: list[tuple[str, str]] = []
    missing: list[str] = []
    for utterance_id in sorted(references):
        reference = normalize_text(read_text(references[utterance_id]))
        if utterance_id in predictions:
            hypothesis = normalize_text(read_text(predictions[utterance_id]))
        else:
            missing.append(utterance_id)
            hypothesis = ""
        pairs.append((reference, hypothesis))
    words, chars = corpus_edits(word_edits, pairs), corpus_edits(char_edits, pairs)
    utterance_rates = [
        utterance_error_rates(reference, hypothesis) for reference, hypothesis in pairs
    ]
    return MetricsReport(
        wer=error_rate(words),
        cer=error_rate(chars),
        mean_utterance_wer=sum(wer for wer, _ in utterance_rates) / len(pairs),
        mean_utterance_cer=sum(cer for _, cer in utterance_rates) / len(pairs),
        n_utterances=len(references),
        missing_predictions=missing,
        extra_predictions=sorted(set(predictions) - set(references)),
        total_word_edits=words.edits,
        total_words=words.reference_length,
        total_char_edits=chars.edits,
        total_chars=chars.reference_length,
    )


def _format_ids(ids: list[str]) -> str:
    if not ids:
        return "0"
    shown = ", ".join(ids[:MAX_LISTED_IDS])
    more = f", ... (+{len(ids) - MAX_LISTED_IDS} more)" if len(ids) > MAX_LISTED_IDS else ""
    return f"{len(ids)} ({shown}{more})"


def format_report(report: MetricsReport) -> str:
    """A short human-readable table, rates in percent."""
    rows = [
        ("Utterances", str(report.n_utterances)),
        (
            "WER",
            f"{100 * report.wer:.2f}%  ({report.total_word_edits} / {report.total_words} words)",
        ),
        (
            "CER",
            f"{100 * report.cer:.2f}%  ({report.total_char_edits} / {report.total_chars} chars)",
        ),
        ("Mean utterance WER", f"{100 * report.mean_utterance_wer:.2f}%"),
        ("Mean utterance CER", f"{100 * report.mean_utterance_cer:.2f}%"),
        ("Missing predictions", _format_ids(report.missing_predictions)),
        ("Extra predictions", _format_ids(report.extra_predictions)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Corpus WER/CER of predicted transcripts against reference transcripts; "
        "both folders hold one <utterance id>.txt per utterance."
    )
    parser.add_argument("--predictions_dir", required=True, type=Path, help="predicted texts")
    parser.add_argument("--transcriptions_dir", required=True, type=Path, help="reference texts")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = compute_metrics(args.predictions_dir, args.transcriptions_dir)
    except MetricsInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
    return 0
