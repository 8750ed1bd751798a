"""A model's log-probabilities over one partition, computed once and saved for decoding
experiments (LM weight tuning, decoder benchmarks)."""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.trainer.pipeline import BatchPipeline
from src.utils.checkpoint import load_checkpoint, save_checkpoint
from src.utils.download import file_digest

logger = logging.getLogger(__name__)


@dataclass
class LogProbCache:
    """Per utterance: id, reference text and (frames, tokens) float32 log-probabilities.

    `fingerprint` names what produced them (checkpoint digest, partition, dataset config).
    """

    ids: list[str]
    references: list[str]
    log_probs: list[torch.Tensor]
    vocab: list[str]
    fingerprint: dict[str, str]

    def arrays(self) -> list[np.ndarray]:
        return [log_probs.numpy() for log_probs in self.log_probs]

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(asdict(self), path)

    @classmethod
    def load(cls, path: str | Path) -> "LogProbCache":
        state = load_checkpoint(path)
        missing = {"ids", "references", "log_probs", "vocab", "fingerprint"} - set(state)
        if missing:
            raise ValueError(f"{path}: not a log-probability cache (missing {sorted(missing)})")
        return cls(**state)


def fingerprint(checkpoint: str | Path, partition: str, datasets_config: DictConfig) -> dict:
    dataset = OmegaConf.to_container(datasets_config[partition], resolve=True)
    return {
        "checkpoint_sha256": file_digest(checkpoint),
        "partition": partition,
        "dataset": OmegaConf.to_yaml(OmegaConf.create(dataset)),
    }


@torch.no_grad()
def compute_log_probs(pipeline: BatchPipeline, loader: DataLoader, key: dict) -> LogProbCache:
    """Runs the model once over the loader's utterances (no decoding)."""
    pipeline.model.eval()
    ids, references, log_probs = [], [], []
    for batch in tqdm(loader, desc=f"log-probs {key['partition']}"):
        batch = pipeline.forward(batch)
        frames = batch["log_probs"].float().cpu()
        for index, length in enumerate(batch["log_probs_length"].tolist()):
            log_probs.append(frames[index, :length].clone())
        ids.extend(batch["id"])
        references.extend(batch["text"])
    vocab = loader.dataset.text_encoder.vocab
    return LogProbCache(ids, references, log_probs, list(vocab), key)


def cached_log_probs(
    pipeline: BatchPipeline, loader: DataLoader, key: dict, path: str | Path
) -> LogProbCache:
    """The cache at `path` if it was made with the same `key`, else computed and saved there."""
    path = Path(path)
    if path.is_file():
        cache = LogProbCache.load(path)
        if cache.fingerprint == key:
            logger.info("reusing the log-probabilities cached in %s", path)
            return cache
        logger.info("%s was made from another checkpoint or dataset: recomputing", path)
    cache = compute_log_probs(pipeline, loader, key)
    cache.save(path)
    logger.info("cached the log-probabilities of %d utterances in %s", len(cache.ids), path)
    return cache
