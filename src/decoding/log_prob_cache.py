"""A model's log-probabilities over one partition, saved once for decoding experiments (LM
weight tuning, decoder benchmarks); `src.trainer.log_probs` computes them."""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.utils.checkpoint import load_checkpoint, save_checkpoint
from src.utils.download import file_digest


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


def fingerprint(
    checkpoint: str | Path, partition: str, datasets_config: DictConfig, weights: str = "model"
) -> dict:
    """What the cached log-probabilities depend on: the checkpoint's bytes, which of its
    weights (`model` or `ema`), the partition and its dataset config."""
    dataset = OmegaConf.to_container(datasets_config[partition], resolve=True)
    return {
        "checkpoint_sha256": file_digest(checkpoint),
        "weights": weights,
        "partition": partition,
        "dataset": OmegaConf.to_yaml(OmegaConf.create(dataset)),
    }
