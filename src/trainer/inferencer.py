"""Inference: decode each partition, write `<save_path>/<partition>/<id>.txt` (the chosen
decoder's hypotheses) and `predictions.jsonl` (every decoder's, with scores and error rates),
and score the partition when it has transcriptions."""

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.metrics import MetricTracker, utterance_error_rates
from src.trainer.pipeline import Batch, BatchPipeline

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"


def utterance_records(batch: Batch, with_reference: bool) -> Iterator[dict[str, Any]]:
    """One JSON-ready record per utterance of a decoded batch: id, [reference,] and per decoder
    its text, the scores it has (logit_score, lm_score, score) [and the utterance's wer, cer]
    [and, decoded with n_best > 1, `n_best`: its best hypotheses, text and scores each]."""
    for index, utterance_id in enumerate(batch["id"]):
        record: dict[str, Any] = {"id": utterance_id}
        if with_reference:
            record["reference"] = reference = batch["text"][index]
        record["decoders"] = {}
        for decoder, hypotheses in batch["hypotheses"].items():
            hypothesis = hypotheses[index]
            entry = {"text": hypothesis.text, **hypothesis.scores()}
            if with_reference:
                entry["wer"], entry["cer"] = utterance_error_rates(reference, hypothesis.text)
            if "n_best" in batch:
                entry["n_best"] = [
                    {"text": other.text, **other.scores()}
                    for other in batch["n_best"][decoder][index]
                ]
            record["decoders"][decoder] = entry
        yield record


def json_line(record: dict[str, Any]) -> str:
    """A record as one line of strict JSON: a NaN or inf score (a diverged model) is an error
    naming the utterance, not a `NaN` that JSON readers reject."""
    try:
        return json.dumps(record, allow_nan=False)
    except ValueError as error:
        raise ValueError(
            f"utterance {record['id']}: a score is not finite (NaN or inf) in {record} ({error})"
        ) from error


def output_path(folder: Path, utterance_id: str) -> Path:
    """`folder/<id>.txt`, refused unless it resolves to a file directly in `folder` (the
    datasets check ids already; this guards any index that skipped that check)."""
    path = folder / f"{utterance_id}.txt"
    if path.resolve().parent != folder.resolve():
        raise ValueError(f"utterance id {utterance_id!r} would write outside {folder}: {path}")
    return path


class Inferencer:
    def __init__(
        self,
        pipeline: BatchPipeline,
        dataloaders: dict[str, DataLoader],
        metrics: list,
        save_path: str | Path,
        output_decoder: str = "Argmax",
        n_best: int = 1,
    ) -> None:
        if output_decoder not in pipeline.decoders:
            raise KeyError(
                f"output_decoder {output_decoder!r} is not among the decoders "
                f"{sorted(pipeline.decoders)}"
            )
        self.pipeline = pipeline
        self.dataloaders = dataloaders
        self.metrics = metrics
        self.save_path = Path(save_path)
        self.output_decoder = output_decoder
        self.n_best = n_best
        self.sample_rate = pipeline.features.sample_rate

    @torch.no_grad()
    def run(self) -> dict[str, dict[str, float]]:
        """Returns, per partition with transcriptions, its corpus-level metrics; stops the
        decoders' worker processes at the end (or on Ctrl-C)."""
        self.pipeline.model.eval()
        results = {}
        try:
            for name, loader in self.dataloaders.items():
                results[name] = self.run_partition(name, loader)
        finally:
            self.pipeline.close()
        return results

    def run_partition(self, name: str, loader: DataLoader) -> dict[str, float]:
        out_dir = self.save_path / name
        out_dir.mkdir(parents=True, exist_ok=True)
        scored = getattr(loader.dataset, "has_transcriptions", True)
        tracker = MetricTracker()
        start, audio_seconds = time.perf_counter(), 0.0
        with (out_dir / PREDICTIONS_FILE).open("w", encoding="utf-8") as predictions:
            for batch in tqdm(loader, desc=f"inference {name}"):
                batch = self.pipeline.decode(self.pipeline.forward(batch), n_best=self.n_best)
                audio_seconds += batch["audio_length"].sum().item() / self.sample_rate
                for record in utterance_records(batch, with_reference=scored):
                    predictions.write(json_line(record) + "\n")
                    text = record["decoders"][self.output_decoder]["text"]
                    output_path(out_dir, record["id"]).write_text(text + "\n", encoding="utf-8")
                if scored:
                    for metric in self.metrics:
                        tracker.update(metric.name, *metric(**batch))
        logger.info(
            "%s: wrote %d predictions (%s) and %s to %s",
            name,
            len(loader.dataset),
            self.output_decoder,
            PREDICTIONS_FILE,
            out_dir,
        )
        seconds = time.perf_counter() - start
        logger.info(
            "%s: %.1f s of audio in %.1f s (real-time factor %.4f: reading, features, model, "
            "decoders)",
            name,
            audio_seconds,
            seconds,
            seconds / max(audio_seconds, 1e-9),
        )
        results = tracker.result()
        for key, value in results.items():
            logger.info("%s %s: %.2f%%", name, key, 100 * value)
        return results


def describe(results: dict[str, dict[str, float]]) -> str:
    """A short text table of the metrics per partition."""
    lines = [
        f"{partition:>12}  {key:<20} {100 * value:6.2f}%"
        for partition, metrics in results.items()
        for key, value in metrics.items()
    ]
    return "\n".join(lines)
