"""A real checkpoint of a tiny, untrained DeepSpeech2, written by the trainer's own `save`."""

from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.model import build_model
from src.trainer.base_trainer import BaseTrainer
from tests.conftest import REPO_ROOT

TINY_MODEL = ["model.rnn_layers=1", "model.rnn_hidden=16", "model.conv_channels=[4,4]"]


def save_tiny_checkpoint(path: Path, overrides: Sequence[str] = ()) -> Path:
    """What train.py writes (model, optimizer, schedule, config, vocab...) for a tiny model;
    `overrides` change its config (e.g. "model.bidirectional=false")."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("deepspeech2_cpu", overrides=[*TINY_MODEL, *overrides])
    text_encoder = instantiate(cfg.text_encoder)
    features = instantiate(cfg.transforms.features)
    torch.manual_seed(0)
    model = build_model(cfg.model, features.n_feats, len(text_encoder))
    optimizer = instantiate(cfg.optimizer, params=model.parameters())
    trainer = BaseTrainer(
        model=model,
        optimizer=optimizer,
        lr_scheduler=instantiate(cfg.lr_scheduler, optimizer=optimizer),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        run_dir=path.parent,
        config=OmegaConf.to_container(cfg, resolve=True),
        vocab=text_encoder.vocab,
        n_epochs=cfg.trainer.n_epochs,
        epoch_len=cfg.trainer.epoch_len,
    )
    return trainer.save(path.name)
