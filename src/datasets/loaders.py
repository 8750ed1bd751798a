"""DataLoaders for the partitions of a datasets config: batching, seeding, and which
partition gets what (augmentations and the CTC-fit filter only where the caller says)."""

import logging
import os
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


AUTO = "auto"
MAX_AUTO_WORKERS = 8


@dataclass
class LoaderConfig:
    """The `dataloader` config node. The training partition is shuffled, by
    `train_batch_sampler` when one is set; evaluation batches hold `batch_size` utterances,
    shortest first when `sort_eval_by_duration` (less padding; outputs do not depend on it).
    `num_workers` and `pin_memory` may be `auto` (see `resolve_auto`)."""

    batch_size: int = 32
    sort_eval_by_duration: bool = True
    num_workers: int | str = AUTO
    pin_memory: bool | str = AUTO
    persistent_workers: bool = True  # ignored when num_workers is 0
    prefetch_factor: int = 2  # batches each worker loads ahead; ignored when num_workers is 0
    train_batch_sampler: Any = None  # a partial sampler config (see configs/dataloader/)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a cluster job's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def resolve_auto(config: DictConfig, device_type: str, processes: int = 1) -> DictConfig:
    """`config` with `auto` settled for the device and `processes` loader-owning processes on
    the machine (e.g. one per GPU):

    - `num_workers: auto`: on CUDA, this process's share of the usable cores minus one for
      itself, at most 8 (the workers decode audio and run the wave augmentations while the GPU
      trains); on the CPU 0, since the model's kernels need every core and a worker gains
      nothing (measured on 2 cores).
    - `pin_memory: auto`: on for CUDA (page-locked batches, so `non_blocking` copies overlap
      the step), off elsewhere.
    """
    values = OmegaConf.to_container(config, resolve=True)  # interpolations need the whole config
    resolved = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(LoaderConfig), values))
    if resolved["num_workers"] == AUTO:
        share = usable_cores() // max(processes, 1) - 1
        resolved["num_workers"] = (
            min(max(share, 0), MAX_AUTO_WORKERS) if device_type == "cuda" else 0
        )
    if resolved["pin_memory"] == AUTO:
        resolved["pin_memory"] = device_type == "cuda"
    for key, kind in (("num_workers", int), ("pin_memory", bool)):
        if not isinstance(resolved[key], kind) or isinstance(resolved[key], bool) != (kind is bool):
            raise ValueError(
                f"dataloader.{key} must be {kind.__name__} or 'auto', got {resolved[key]!r}"
            )
    return OmegaConf.create(resolved)


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
    device_type: str = "cpu",
) -> dict[str, DataLoader]:
    """One DataLoader per partition of `datasets_config`.

    `train_partition` (if among `partitions`) is shuffled and keeps only labels CTC can align
    (`output_length`: audio samples -> model frames). `wave_augs` maps partition names to the
    waveform augmentations of their items. `skip_bad_audio` (a training run) makes every
    partition skip unreadable audio instead of raising. `seed` drives the shuffles and the
    worker processes' `random`, numpy and torch seeds. `auto` loader settings are resolved for
    `device_type` (the device the batches go to).
    """
    missing = [name for name in partitions if name not in datasets_config]
    if missing:
        raise KeyError(f"datasets config has no partition(s) {missing}: {list(datasets_config)}")
    wave_augs = wave_augs or {}
    loader_config = resolve_auto(loader_config, device_type)
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
