"""A tiny DeepSpeech2: a real checkpoint of it, untrained, written by the trainer's own `save`,
and the config of a tiny training run of it."""

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.model import build_model
from src.trainer.base_trainer import BaseTrainer
from src.trainer.config import TrainerConfig
from src.trainer.setup import typed
from src.transforms.features import build_features
from tests.conftest import compose_config

TINY_MODEL = ["model.rnn_layers=1", "model.rnn_hidden=16", "model.conv_channels=[4,4]"]


def tiny_run_config(manifest: Path, run_dir: Path, *overrides: str) -> DictConfig:
    """The CPU recipe shrunk: the tiny model on `manifest` (train and val), batches of 4 loaded
    in the process, 2 epochs of 3 steps, fp32, the offline Comet writer, into `run_dir/run`."""
    return compose_config(
        "deepspeech2_cpu",
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        *TINY_MODEL,
        "dataloader.batch_size=4",
        "dataloader.num_workers=0",
        "writer=cometml",
        "trainer.n_epochs=2",
        "trainer.epoch_len=3",
        "trainer.log_step=2",
        "trainer.amp=off",
        f"trainer.save_dir={run_dir}",
        "trainer.run_name=run",
        *overrides,
    )


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
