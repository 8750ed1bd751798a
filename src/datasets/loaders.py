"""DataLoaders for the partitions of a datasets config: batching, seeding, and which
partition gets what (augmentations and the CTC-fit filter only where the caller says); the
training loader as an endless stream of batches that resumes exactly."""

import logging
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from src.datasets.base_dataset import BaseDataset, OutputLength, collate_fn
from src.datasets.samplers import ResumableBatchSampler, ShuffledBatchSampler
from src.text_encoder import TextEncoder

logger = logging.getLogger(__name__)


AUTO = "auto"
MAX_AUTO_WORKERS = 8


@dataclass
class LoaderConfig:
    """The `dataloader` config node. The training partition is shuffled, by
    `train_batch_sampler` when one is set (else a `ShuffledBatchSampler`); evaluation batches
    hold `batch_size` utterances, shortest first when `sort_eval_by_duration` (less padding;
    outputs do not depend on it). `num_workers` and `pin_memory` may be `auto` (see
    `resolve_auto`)."""

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
    text_encoder: TextEncoder,
    partitions: Sequence[str],
    train_partition: str | None = None,
    wave_augs: Mapping[str, list] | None = None,
    output_length: OutputLength | None = None,
    skip_bad_audio: bool = False,
    seed: int = 0,
    device_type: str = "cpu",
    rank: int = 0,
    world_size: int = 1,
    local_processes: int = 1,
) -> dict[str, DataLoader]:
    """One DataLoader per partition of `datasets_config`.

    `train_partition` (if among `partitions`) is shuffled and keeps only labels CTC can align
    (`output_length`: audio samples -> model frames). `wave_augs` maps partition names to the
    waveform augmentations of their items. `skip_bad_audio` (a training run) makes every
    partition skip unreadable audio instead of raising. `seed` drives the training batches and
    the items' augmentation draws (`ItemKey`), and seeds the worker processes' `random`, numpy
    and torch (for datasets that draw from them). Workers leave stop signals to the main
    process (`worker_stop_signals`). `auto` loader settings are resolved for `device_type`
    (the device the batches go to) and the `local_processes` loading on this machine.

    Under torchrun (`world_size` > 1) each loader serves rank `rank`'s share: training
    batches through the sampler's `shard` (equal counts, disjoint), evaluation utterances
    every `world_size`-th of the (sorted) order from `rank` on: each utterance on one rank.
    """
    missing = [name for name in partitions if name not in datasets_config]
    if missing:
        raise KeyError(f"datasets config has no partition(s) {missing}: {list(datasets_config)}")
    wave_augs = wave_augs or {}
    loader_config = resolve_auto(loader_config, device_type, local_processes)
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
        loaders[name] = _dataloader(dataset, loader_config, is_train, seed, (rank, world_size))
        logger.info("%s: %d utterances", name, len(dataset))
    return loaders


def _dataloader(
    dataset: BaseDataset,
    config: DictConfig,
    is_train: bool,
    seed: int,
    shard: tuple[int, int] = (0, 1),
) -> DataLoader:
    options = OmegaConf.to_container(config, resolve=True)
    sampler_config = options.pop("train_batch_sampler", None)
    sort_by_duration = options.pop("sort_eval_by_duration", False)
    if options.get("num_workers", 0) == 0:
        options.pop("persistent_workers", None)
        options.pop("prefetch_factor", None)
    # Seeds each worker's random/numpy/torch (torch derives them from it).
    options["generator"] = torch.Generator().manual_seed(seed)
    if options.get("num_workers", 0) > 0:
        options["worker_init_fn"] = worker_stop_signals
    if is_train:
        batch_size = options.pop("batch_size")
        if sampler_config:
            batch_sampler = instantiate(sampler_config)(durations=dataset.durations(), seed=seed)
        else:
            batch_sampler = ShuffledBatchSampler(len(dataset), batch_size, seed=seed)
        batch_sampler.shard(*shard)
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_fn, **options)
    order = list(range(len(dataset)))
    if sort_by_duration:
        order.sort(key=dataset.durations().__getitem__)
    rank, world_size = shard
    if world_size > 1 or sort_by_duration:
        options["sampler"] = order[rank::world_size]
    return DataLoader(dataset, collate_fn=collate_fn, **options)


def worker_stop_signals(worker_id: int) -> None:
    """A loader worker's `worker_init_fn`. Ctrl-C reaches the whole process group: workers
    ignore it and keep loading, so the main process can finish its step and stop there. SIGTERM
    (a cluster may send it to every process of a job; multiprocessing sends it to end workers
    at exit) ends a worker at once with status 0, which torch's check for failed workers lets
    pass: the main process stops at its next safe point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))


class BatchStream(Iterator[dict[str, Any]]):
    """A training DataLoader as an endless stream of batches, pass after pass, that knows how
    many batches of the current pass it has handed out. Its `state_dict()` (pass, position)
    is what training consumed, not what workers prefetched: `load_state_dict()` makes the
    stream continue with the next batch training has not seen."""

    def __init__(self, loader: DataLoader) -> None:
        if not isinstance(loader.batch_sampler, ResumableBatchSampler):
            raise TypeError("BatchStream needs a loader with a ResumableBatchSampler")
        self.loader = loader
        self.sampler: ResumableBatchSampler = loader.batch_sampler
        self.pass_index = 0
        self.position = 0
        self._batches: Iterator[dict[str, Any]] | None = None

    def __next__(self) -> dict[str, Any]:
        for _ in range(2):  # the rest of this pass, else the start of the next one
            if self._batches is None:
                self.sampler.load_state_dict(self.state_dict())
                self._batches = iter(self.loader)
            try:
                batch = next(self._batches)
            except StopIteration:
                self._batches = None
                self.pass_index, self.position = self.pass_index + 1, 0
                continue
            self.position += 1
            return batch
        raise ValueError(f"the training sampler serves no batch in pass {self.pass_index}")

    def state_dict(self) -> dict[str, int]:
        return {"pass": self.pass_index, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.pass_index, self.position = state["pass"], state["position"]
        self._batches = None
