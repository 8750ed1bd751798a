"""Turns composed Hydra configs into the objects a run needs."""

import logging
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from src.datasets import collate_fn
from src.metrics import ErrorRateMetric
from src.model import CTCModel
from src.text_encoder import CTCCharTextEncoder

logger = logging.getLogger(__name__)


def build_model(model_config: DictConfig | dict, n_feats: int, n_tokens: int) -> CTCModel:
    model = instantiate(model_config, n_feats=n_feats, n_tokens=n_tokens)
    logger.info(model.parameter_summary())
    return model


def build_dataloaders(
    datasets_config: DictConfig,
    dataloader_config: DictConfig,
    text_encoder: CTCCharTextEncoder,
    partitions: list[str],
    train_wave_augs: list | None = None,
) -> dict[str, DataLoader]:
    """One DataLoader per partition; only `train` shuffles (by `train_batch_sampler` if set)."""
    missing = [name for name in partitions if name not in datasets_config]
    if missing:
        raise KeyError(f"datasets config has no partition(s) {missing}: {list(datasets_config)}")
    loaders = {}
    for name in partitions:
        augmentations = (
            {"wave_augs": train_wave_augs} if name == "train" and train_wave_augs else {}
        )
        dataset = instantiate(datasets_config[name], text_encoder=text_encoder, **augmentations)
        if len(dataset) == 0:
            raise ValueError(f"partition {name!r} has no utterances")
        loaders[name] = _dataloader(dataset, dataloader_config, is_train=name == "train")
        logger.info("%s: %d utterances", name, len(dataset))
    return loaders


def _dataloader(dataset: Dataset, config: DictConfig, is_train: bool) -> DataLoader:
    options = OmegaConf.to_container(config, resolve=True)
    sampler_config = options.pop("train_batch_sampler", None)
    if options.get("num_workers", 0) == 0:
        options.pop("persistent_workers", None)
        options.pop("prefetch_factor", None)
    if is_train and sampler_config:
        batch_sampler = instantiate(sampler_config)(durations=dataset.durations())
        options.pop("batch_size")
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_fn, **options)
    return DataLoader(
        dataset, shuffle=is_train, drop_last=is_train, collate_fn=collate_fn, **options
    )


def build_decoders(decoders_config: DictConfig, text_encoder: CTCCharTextEncoder) -> dict[str, Any]:
    return {name: instantiate(config)(text_encoder) for name, config in decoders_config.items()}


def build_metrics(metrics_config: DictConfig, decoder_names: list[str]) -> list[ErrorRateMetric]:
    """Every configured metric, once per decoder."""
    factories = [instantiate(config) for config in metrics_config]
    return [factory(decoder=name) for name in decoder_names for factory in factories]
