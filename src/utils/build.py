"""Turns composed Hydra configs into the objects a run needs."""

import logging
import math
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from src.datasets import BaseDataset, collate_fn
from src.datasets.base_dataset import OutputLength
from src.metrics import ErrorRateMetric
from src.model import CTCModel
from src.text_encoder import CTCCharTextEncoder
from src.transforms.features import LogFeatures

logger = logging.getLogger(__name__)


def model_output_length(model: CTCModel, features: LogFeatures) -> OutputLength:
    """Audio samples -> the model's output frames, for the datasets' CTC length filter."""

    def output_length(n_samples: torch.Tensor) -> torch.Tensor:
        return model.output_lengths(features.frame_lengths(n_samples))

    return output_length


def _after_augmentation(output_length: OutputLength, wave_augs: list) -> OutputLength:
    """`output_length` of the shortest audio the wave augmentations can make (e.g. speed
    perturbation at its fastest), so the CTC filter keeps only labels that always fit."""
    ratio = math.prod(getattr(augmentation, "min_length_ratio", 1.0) for augmentation in wave_augs)
    if ratio == 1.0:
        return output_length
    return lambda n_samples: output_length(torch.floor(n_samples * ratio).long())


def build_dataloaders(
    datasets_config: DictConfig,
    dataloader_config: DictConfig,
    text_encoder: CTCCharTextEncoder,
    partitions: list[str],
    train_wave_augs: list | None = None,
    output_length: OutputLength | None = None,
    skip_bad_audio: bool = False,
    seed: int = 0,
) -> dict[str, DataLoader]:
    """One DataLoader per partition; only `train` shuffles (by `train_batch_sampler` if set).

    `train` alone gets the wave augmentations and the `output_length` filter (utterances CTC
    cannot align are dropped); `skip_bad_audio` (a training run) makes every partition skip
    unreadable audio instead of raising. `seed` drives the shuffles and the worker processes'
    `random`, numpy and torch seeds.
    """
    missing = [name for name in partitions if name not in datasets_config]
    if missing:
        raise KeyError(f"datasets config has no partition(s) {missing}: {list(datasets_config)}")
    loaders = {}
    for name in partitions:
        training_only = {}
        if name == "train":
            if train_wave_augs:
                training_only["wave_augs"] = train_wave_augs
            if output_length is not None:
                training_only["output_length"] = _after_augmentation(
                    output_length, train_wave_augs or []
                )
        dataset = instantiate(
            datasets_config[name],
            text_encoder=text_encoder,
            skip_bad_audio=skip_bad_audio,
            **training_only,
        )
        if len(dataset) == 0:
            raise ValueError(f"partition {name!r} has no utterances")
        loaders[name] = _dataloader(dataset, dataloader_config, name == "train", seed)
        logger.info("%s: %d utterances", name, len(dataset))
    return loaders


def _dataloader(dataset: BaseDataset, config: DictConfig, is_train: bool, seed: int) -> DataLoader:
    options = OmegaConf.to_container(config, resolve=True)
    sampler_config = options.pop("train_batch_sampler", None)
    if options.get("num_workers", 0) == 0:
        options.pop("persistent_workers", None)
        options.pop("prefetch_factor", None)
    # Seeds the shuffle, and each worker's random/numpy/torch (torch derives them from it).
    options["generator"] = torch.Generator().manual_seed(seed)
    if is_train and sampler_config:
        batch_sampler = instantiate(sampler_config)(durations=dataset.durations(), seed=seed)
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
