"""Tiny models: real checkpoints of them, untrained, written by the trainer's own `save`, and
the config of a tiny training run of DeepSpeech2."""

from collections.abc import Sequence
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.model import build_model
from src.text_encoder import build_text_encoder
from src.trainer.base_trainer import BaseTrainer
from src.trainer.config import TrainerConfig
from src.trainer.setup import typed
from src.transforms.features import build_features
from tests.conftest import FIXED_LENGTH, REPO_ROOT, compose_config

TINY_MODEL = ["model.rnn_layers=1", "model.rnn_hidden=16", "model.conv_channels=[4,4]"]


def tiny_run_config(
    manifest: Path, run_dir: Path, *overrides: str, model: Sequence[str] = TINY_MODEL
) -> DictConfig:
    """The CPU recipe shrunk: the tiny model (or `model`'s overrides) on `manifest` (train and
    val), batches of 4 loaded in the process, 2 epochs of 3 steps, fp32, the offline Comet
    writer, into `run_dir/run`."""
    return compose_config(
        "deepspeech2_cpu",
        *FIXED_LENGTH,
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        *model,
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

    def evaluate(self, label: str = "") -> dict[str, float]:
        raise NotImplementedError


def save_tiny_checkpoint(path: Path, overrides: Sequence[str] = TINY_MODEL) -> Path:
    """What train.py writes (model, optimizer, schedule, config, vocab...) for a tiny model
    (`overrides`: e.g. `tiny_model_overrides(...)`; a learnt text encoder such as
    `text_encoder=bpe` learns from `TINY_TRANSCRIPTS`)."""
    cfg = compose_config("deepspeech2_cpu", *FIXED_LENGTH, *overrides, "trainer.run_name=tiny")
    text_encoder = build_text_encoder(cfg.text_encoder, lambda: TINY_TRANSCRIPTS)
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
        text_encoder_state=text_encoder.checkpoint_state(),
    )
    return trainer.save(path.name)


TINY_TRANSCRIPTS = ["the quick brown fox", "jumps over the lazy dog", "a cat and a hat"] * 4

# Tiny sizes for every model class (dropout off): the shared model tests shrink each config of
# configs/model/ with them, keeping its strides and kernels. A new model class adds its entry.
TINY_SIZES = {
    "BaselineModel": {"hidden": 16},
    "DeepSpeech2": {"rnn_layers": 1, "rnn_hidden": 16, "conv_channels": [4, 4]},
    "ConformerCTC": {
        "d_model": 16,
        "n_heads": 2,
        "ffn_dim": 32,
        "n_layers": 2,
        "subsampling_channels": 4,
        "dropout": 0.0,
    },
    "QuartzNet": {
        "prologue_channels": 8,
        "module_repeats": 2,
        "epilogue_channels": 8,
        "head_channels": 16,
        "dropout": 0.0,
    },
}


def tiny_spec(spec: dict) -> dict:
    """A model spec (`_target_` + keys) shrunk to its class's `TINY_SIZES`."""
    name = spec["_target_"].rsplit(".", 1)[-1]
    tiny = {**spec, **TINY_SIZES[name]}
    if name == "QuartzNet":  # one width per block of the config
        tiny["block_channels"] = [8] * len(spec["block_kernels"])
    return tiny


def tiny_model_overrides(model_config: str) -> list[str]:
    """Hydra overrides choosing `configs/model/<model_config>.yaml` at its tiny size."""
    spec = OmegaConf.to_container(
        OmegaConf.load(REPO_ROOT / "configs" / "model" / f"{model_config}.yaml")
    )
    return [f"model={model_config}"] + [
        f"model.{key}={value}".replace(" ", "")
        for key, value in tiny_spec(spec).items()
        if value != spec[key]
    ]
