"""A real checkpoint of a tiny, untrained DeepSpeech2, written by the trainer's own `save`."""

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.model import build_model
from src.trainer.base_trainer import BaseTrainer
from src.trainer.config import TrainerConfig
from src.trainer.setup import typed
from src.transforms.features import build_features
from tests.conftest import compose_config

TINY_MODEL = ["model.rnn_layers=1", "model.rnn_hidden=16", "model.conv_channels=[4,4]"]


class CheckpointWriter(BaseTrainer):
    """The trainer's checkpointing alone: no epochs to run."""

    def train_epoch(self) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        raise NotImplementedError


def save_tiny_checkpoint(path: Path) -> Path:
    """What train.py writes (model, optimizer, schedule, config, vocab...) for a tiny model."""
    cfg = compose_config("deepspeech2_cpu", *TINY_MODEL, "trainer.run_name=tiny")
    text_encoder = instantiate(cfg.text_encoder)
    features = build_features(cfg.transforms.features)
    torch.manual_seed(0)
    model = build_model(cfg.model, features.n_feats, len(text_encoder))
    optimizer = instantiate(cfg.optimizer, params=model.parameters())
    trainer = CheckpointWriter(
        settings=typed(TrainerConfig, cfg.trainer),
        model=model,
        optimizer=optimizer,
        lr_scheduler=instantiate(cfg.lr_scheduler, optimizer=optimizer),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        run_dir=path.parent,
        config=OmegaConf.to_container(cfg, resolve=True),
        vocab=text_encoder.vocab,
    )
    return trainer.save(path.name)
