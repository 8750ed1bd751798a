"""DataLoaders for the partitions of a datasets config: batching, seeding, and which
partition gets what (augmentations and the CTC-fit filter only where the caller says)."""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from src.datasets.base_dataset import BaseDataset, OutputLength, collate_fn
from src.text_encoder import CTCCharTextEncoder

logger = logging.getLogger(__name__)


@dataclass
class LoaderConfig:
    """The `dataloader` config node. The training partition is shuffled, by
    `train_batch_sampler` when one is set; evaluation batches hold `batch_size` utterances,
    shortest first when `sort_eval_by_duration` (less padding; outputs do not depend on it)."""

    batch_size: int = 32
    sort_eval_by_duration: bool = True
    num_workers: int = 1
    pin_memory: bool = False
    persistent_workers: bool = True  # ignored when num_workers is 0
    prefetch_factor: int = 2  # ignored when num_workers is 0
    train_batch_sampler: Any = None  # a partial sampler config (see configs/dataloader/)


def build_dataloaders(
    datasets_config: DictConfig,
    loader_config: DictConfig,
    text_encoder: CTCCharTextEncoder,
    partitions: Sequence[str],
    train_partition: str | None = None,
    wave_augs: Mapping[str, list] | None = None,
    output_length: OutputLength | None = None,
    skip_bad_audio: bool = False,
    seed: int = 0,
) -> dict[str, DataLoader]:
    """One DataLoader per partition of `datasets_config`.

    `train_partition` (if among `partitions`) is shuffled and keeps only labels CTC can align
    (`output_length`: audio samples -> model frames). `wave_augs` maps partition names to the
    waveform augmentations of their items. `skip_bad_audio` (a training run) makes every
    partition skip unreadable audio instead of raising. `seed` drives the shuffles and the
    worker processes' `random`, numpy and torch seeds.
    """
    missing = [name for name in partitions if name not in datasets_config]
    if missing:
        raise KeyError(f"datasets config has no partition(s) {missing}: {list(datasets_config)}")
    wave_augs = wave_augs or {}
    loaders = {}
    for name in partitions:
        is_train = name == train_partition
        dataset = instantiate(
            datasets_config[name],
            text_encoder=text_encoder,
            skip_bad_audio=skip_bad_audio,
            wave_augs=list(wave_augs.get(name, [])),
            output_length=output_length if is_train else None,
        )
        if len(dataset) == 0:
            raise ValueError(f"partition {name!r} has no utterances")
        loaders[name] = _dataloader(dataset, loader_config, is_train, seed)
        logger.info("%s: %d utterances", name, len(dataset))
    return loaders


def _dataloader(dataset: BaseDataset, config: DictConfig, is_train: bool, seed: int) -> DataLoader:
    options = OmegaConf.to_container(config, resolve=True)
    sampler_config = options.pop("train_batch_sampler", None)
    sort_by_duration = options.pop("sort_eval_by_duration", False)
    if options.get("num_workers", 0) == 0:
        options.pop("persistent_workers", None)
        options.pop("prefetch_factor", None)
    # Seeds the shuffle, and each worker's random/numpy/torch (torch derives them from it).
    options["generator"] = torch.Generator().manual_seed(seed)
    if is_train and sampler_config:
        batch_sampler = instantiate(sampler_config)(durations=dataset.durations(), seed=seed)
        options.pop("batch_size")
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_fn, **options)
    if not is_train and sort_by_duration:
        durations = dataset.durations()
        options["sampler"] = sorted(range(len(dataset)), key=durations.__getitem__)
    return DataLoader(
        dataset, shuffle=is_train, drop_last=is_train, collate_fn=collate_fn, **options
    )
