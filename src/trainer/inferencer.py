"""Inference: decode each partition, write `<save_path>/<partition>/<id>.txt`, score if we can."""

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.metrics import MetricTracker
from src.trainer.pipeline import BatchPipeline

logger = logging.getLogger(__name__)


class Inferencer:
    def __init__(
        self,
        pipeline: BatchPipeline,
        dataloaders: dict[str, DataLoader],
        metrics: list,
        save_path: str | Path,
        output_decoder: str = "Argmax",
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

    @torch.no_grad()
    def run(self) -> dict[str, dict[str, float]]:
        """Returns, per partition with transcriptions, its corpus-level metrics."""
        self.pipeline.model.eval()
        results = {}
        for name, loader in self.dataloaders.items():
            results[name] = self.run_partition(name, loader)
        return results

    def run_partition(self, name: str, loader: DataLoader) -> dict[str, float]:
        out_dir = self.save_path / name
        out_dir.mkdir(parents=True, exist_ok=True)
        scored = getattr(loader.dataset, "has_transcriptions", True)
        tracker = MetricTracker()
        for batch in tqdm(loader, desc=f"inference {name}"):
            batch = self.pipeline.decode(self.pipeline.forward(batch))
            for utterance_id, hypothesis in zip(
                batch["id"], batch["predictions"][self.output_decoder], strict=True
            ):
                (out_dir / f"{utterance_id}.txt").write_text(hypothesis + "\n", encoding="utf-8")
            if scored:
                for metric in self.metrics:
                    tracker.update(metric.name, *metric(**batch))
        logger.info("%s: wrote %d predictions to %s", name, len(loader.dataset), out_dir)
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
