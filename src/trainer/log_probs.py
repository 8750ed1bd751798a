"""A model's log-probabilities over a partition, computed once and cached for decoding
experiments (`src.decoding.log_prob_cache.LogProbCache`)."""

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.decoding.log_prob_cache import LogProbCache
from src.trainer.pipeline import BatchPipeline

logger = logging.getLogger(__name__)


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
