"""Builds a Trainer or an Inferencer from a composed Hydra config."""

import inspect
import logging
import math
from pathlib import Path
from typing import Any, TypeVar

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from src.datasets.base_dataset import OutputLength
from src.datasets.loaders import build_dataloaders
from src.datasets.transcripts import training_transcripts
from src.decoding import build_decoders
from src.logger import NullWriter
from src.metrics import build_metrics
from src.model import CTCModel, build_model
from src.model.masking import sync_batch_norm
from src.text_encoder import build_text_encoder
from src.trainer.base_trainer import parse_monitor
from src.trainer.config import InferencerConfig, RuntimeConfig, TrainerConfig
from src.trainer.distributed import Distributed, init_distributed
from src.trainer.inferencer import Inferencer
from src.trainer.pipeline import BatchPipeline
from src.trainer.restore import load_trained_model
from src.trainer.trainer import Trainer
from src.transforms.features import LogFeatures, build_features
from src.utils.runtime import resolve_amp, resolve_device, set_num_threads, set_seed

logger = logging.getLogger(__name__)

Schema = TypeVar("Schema")


def typed(schema: type[Schema], node: DictConfig) -> Schema:
    """A config node (interpolations resolved) as its dataclass, validated against it."""
    values = OmegaConf.to_container(node, resolve=True)
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))


def prepare_runtime(settings: RuntimeConfig) -> tuple[torch.device, str]:
    """Seed, threads, device, TF32 on CUDA (`tf32`) and the mixed-precision mode (`auto`
    resolved for the device)."""
    set_seed(settings.seed)
    set_num_threads(settings.num_threads)
    device = resolve_device(settings.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = settings.tf32
        torch.backends.cudnn.allow_tf32 = settings.tf32
    amp = resolve_amp(settings.amp, device)
    logger.info("device %s, amp %s, %d torch threads", device, amp, torch.get_num_threads())
    return device, amp


def model_output_length(model: CTCModel, features: LogFeatures) -> OutputLength:
    """Audio samples -> the model's output frames, for the datasets' CTC length filter."""

    def output_length(n_samples: torch.Tensor) -> torch.Tensor:
        return model.output_lengths(features.frame_lengths(n_samples))

    return output_length


def after_augmentation(output_length: OutputLength, augmentations: list) -> OutputLength:
    """`output_length` of the shortest audio the wave augmentations can make (e.g. speed
    perturbation at its fastest), so the CTC filter keeps only labels that always fit."""
    ratio = math.prod(
        getattr(augmentation, "min_length_ratio", 1.0) for augmentation in augmentations
    )
    if ratio == 1.0:
        return output_length
    return lambda n_samples: output_length(torch.floor(n_samples * ratio).long())


AUGMENTATION_KINDS = ("wave", "batch", "spec")


def build_augmentations(transforms: DictConfig) -> dict[str, dict[str, list]]:
    """`transforms.augmentations` ({partition: {kind: [configs]}}) -> {kind: {partition:
    augmentations}} for the kinds `wave` (each utterance, in the dataset), `batch` (each batch
    on the device, before the features) and `spec` (each batch, after the features)."""
    built: dict[str, dict[str, list]] = {kind: {} for kind in AUGMENTATION_KINDS}
    for partition, augmentations in (transforms.get("augmentations") or {}).items():
        unknown = sorted(set(augmentations) - set(AUGMENTATION_KINDS))
        if unknown:
            raise ValueError(
                f"transforms.augmentations.{partition} has {unknown}; the kinds are "
                f"{list(AUGMENTATION_KINDS)}"
            )
        for kind in AUGMENTATION_KINDS:
            built[kind][partition] = list(instantiate(augmentations.get(kind) or []))
    return built


def fused_on_cuda(optimizer: DictConfig, device: torch.device) -> dict[str, bool]:
    """`fused=True` for an optimizer class that takes it, on CUDA, unless the config sets it:
    one kernel per parameter group instead of one per tensor."""
    takes_fused = "fused" in inspect.signature(get_class(optimizer._target_)).parameters
    if device.type == "cuda" and takes_fused and optimizer.get("fused") is None:
        return {"fused": True}
    return {}


def check_trainer_settings(settings: TrainerConfig, cfg: DictConfig) -> None:
    """Names the trainer refers to must exist: fail before any setup work, not after the
    first training epoch."""
    for setting in ("log_step", "train_metrics_every", "grad_accum_steps"):
        value = getattr(settings, setting)
        if value < 1:
            raise ValueError(f"trainer.{setting} must be at least 1, got {value}")
    for setting in ("train_decoders", "eval_decoders"):
        unknown = sorted(set(getattr(settings, setting)) - set(cfg.decoders))
        if unknown:
            raise ValueError(
                f"trainer.{setting} names {unknown}, but the decoders config builds only "
                f"{sorted(cfg.decoders)} (e.g. decoders=beam_search adds BeamSearch)"
            )
    partitions = [settings.train_partition, *settings.eval_partitions]
    unknown = [name for name in partitions if name not in dataset_partitions(cfg.datasets)]
    if unknown:
        raise ValueError(
            f"trainer.train_partition/eval_partitions name {unknown}, but the datasets config "
            f"has only {dataset_partitions(cfg.datasets)}"
        )
    check_monitor(settings, cfg.metrics)
    check_run_dir(settings)


def monitorable(settings: TrainerConfig, metrics_config: DictConfig) -> list[str]:
    """The keys of an epoch's logs that `trainer.monitor` may name: `<partition>_loss` and
    `<partition>_<metric>` of every evaluated partition (and of the training one)."""
    keys = []
    for prefix, decoders in (
        *((name, settings.eval_decoders) for name in settings.eval_partitions),
        ("train", settings.train_decoders),
    ):
        names = ["loss", *(metric.name for metric in build_metrics(metrics_config, decoders))]
        keys += [f"{prefix}_{name}" for name in names]
    return keys


def check_monitor(settings: TrainerConfig, metrics_config: DictConfig) -> None:
    """`trainer.monitor` is well formed and names a key the epochs will log."""
    mode, key = parse_monitor(settings.monitor)
    if mode != "off" and key not in monitorable(settings, metrics_config):
        raise ValueError(
            f"trainer.monitor={settings.monitor!r}: no epoch logs {key!r}; monitor one of "
            f"{monitorable(settings, metrics_config)} (or 'off')"
        )


def check_run_dir(settings: TrainerConfig) -> None:
    """A new run must not overwrite another run's checkpoints: a run folder that holds some is
    only written to by a run resuming from one of them."""
    run_dir = Path(settings.save_dir) / settings.run_name
    existing = sorted(path.name for path in run_dir.glob("*.pth"))
    resume_from = Path(settings.resume_from) if settings.resume_from else None
    if not existing or (resume_from and resume_from.resolve().parent == run_dir.resolve()):
        return
    resumable = [name for name in ("interrupted.pth", "last.pth") if name in existing]
    latest = max(resumable or existing, key=lambda name: (run_dir / name).stat().st_mtime)
    hint = f"continue it with trainer.resume_from={run_dir / latest}"
    raise FileExistsError(
        f"{run_dir} already holds checkpoints of another run ({', '.join(existing)}): {hint}, "
        "or start a new run under another trainer.run_name (or delete that folder)"
    )


def distributed_model(
    model: nn.Module, settings: TrainerConfig, dist: Distributed, device: torch.device
) -> nn.Module:
    """Under torchrun: `model` on this rank's device in DistributedDataParallel (batch norm
    synced across ranks with `trainer.sync_batch_norm`); else `model` itself."""
    if not dist.enabled:
        return model
    if settings.sync_batch_norm:
        logger.info("trainer.sync_batch_norm: %d batch norm layers synced", sync_batch_norm(model))
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model.to(device), device_ids=device_ids)


def build_trainer(cfg: DictConfig) -> Trainer:
    """Under torchrun (`WORLD_SIZE` > 1) every rank calls it: it joins the process group and
    builds this rank's share of the data, the model in DistributedDataParallel, and the
    experiment writer on rank 0 only."""
    settings = typed(TrainerConfig, cfg.trainer)
    check_trainer_settings(settings, cfg)
    device, amp = prepare_runtime(settings)
    dist = init_distributed(settings.dist_timeout_s, device.type)
    device = dist.device(device)
    text_encoder = build_text_encoder(
        cfg.text_encoder, lambda: training_transcripts(cfg.datasets[settings.train_partition])
    )
    if len({tuple(vocab) for vocab in dist.gather(text_encoder.vocab)}) > 1:
        raise RuntimeError(
            "the ranks built different vocabularies (a text encoder learnt per rank that is not "
            "deterministic?): learn it once and load it on every rank"
        )
    features = build_features(cfg.transforms.features)
    augmentations = build_augmentations(cfg.transforms)
    train_wave_augs = augmentations["wave"].get(settings.train_partition, [])
    train_batch_augs = augmentations["batch"].get(settings.train_partition, [])
    train_spec_augs = augmentations["spec"].get(settings.train_partition, [])
    model = build_model(cfg.model, features.n_feats, len(text_encoder))
    dataloaders = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        text_encoder,
        [settings.train_partition, *settings.eval_partitions],
        train_partition=settings.train_partition,
        wave_augs=augmentations["wave"],
        output_length=after_augmentation(
            model_output_length(model, features), [*train_wave_augs, *train_batch_augs]
        ),
        skip_bad_audio=True,
        seed=settings.seed,
        device_type=device.type,
        rank=dist.rank,
        world_size=dist.world_size,
        local_processes=dist.local_world_size,
    )
    decoders = build_decoders(cfg.decoders, text_encoder)
    pipeline = BatchPipeline(
        distributed_model(model, settings, dist, device),
        features,
        device,
        amp,
        decoders,
        train_spec_augs,
        train_batch_augs,
    )
    optimizer = instantiate(
        cfg.optimizer,
        params=[p for p in model.parameters() if p.requires_grad],
        **fused_on_cuda(cfg.optimizer, device),
    )
    lr_scheduler = instantiate(cfg.lr_scheduler, optimizer=optimizer) if cfg.lr_scheduler else None
    make_lr_scheduler = None  # another number of steps (trainer.max_minutes): a new schedule
    if cfg.lr_scheduler and "steps_per_epoch" in cfg.lr_scheduler:  # OneCycle

        def make_lr_scheduler(total_steps: int) -> Any:
            return instantiate(cfg.lr_scheduler, optimizer=optimizer, total_steps=total_steps)

    run_dir = Path(settings.save_dir) / settings.run_name
    config = OmegaConf.to_container(cfg, resolve=True)
    writer = (instantiate(cfg.writer, _partial_=True) if dist.is_main else NullWriter)(
        run_dir=run_dir, run_name=settings.run_name, config=config
    )
    if not (train_wave_augs or train_batch_augs or train_spec_augs):
        settings.log_augmentations = 0  # nothing to show clean vs augmented
    trainer = Trainer(
        settings=settings,
        pipeline=pipeline,
        criterion=instantiate(cfg.loss_function),
        dataloaders=dataloaders,
        metrics={
            "train": build_metrics(cfg.metrics, settings.train_decoders),
            "eval": build_metrics(cfg.metrics, settings.eval_decoders),
        },
        writer=writer,
        optimizer=optimizer,
        lr_scheduler=lr_scheduler,
        scaler=torch.amp.GradScaler(device.type, enabled=amp == "fp16"),
        run_dir=run_dir,
        config=config,
        vocab=text_encoder.vocab,
        text_encoder_state=text_encoder.checkpoint_state(),
        make_lr_scheduler=make_lr_scheduler,
        dist=dist,
    )
    if settings.resume_from:
        trainer.resume(settings.resume_from)
    elif settings.from_pretrained:
        trainer.load_pretrained(settings.from_pretrained)
    return trainer


def dataset_partitions(datasets: DictConfig) -> list[str]:
    """The partitions of a datasets config: its nodes that name a dataset class (other keys,
    like `eval_partitions`, describe them)."""
    return [
        name
        for name, node in datasets.items()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def pending_downloads(partition: DictConfig) -> list[str]:
    """What building this dataset partition would download first (nothing for most corpora)."""
    dataset_class = get_class(partition._target_)
    options: dict[str, Any] = OmegaConf.to_container(partition, resolve=True)
    options.pop("_target_")
    return dataset_class.pending_downloads(**options)


def inference_partitions(settings: InferencerConfig, datasets: DictConfig) -> list[str]:
    """`inferencer.partitions`, or every partition not excluded. In the second case, when some
    of them would be downloaded but others are on disk (e.g. only `datasets.test` pointed at
    a local folder), stop before any download and say how to choose."""
    if settings.partitions is not None:
        return list(settings.partitions)
    partitions = [
        name for name in dataset_partitions(datasets) if name not in settings.exclude_partitions
    ]
    pending = {name: pending_downloads(datasets[name]) for name in partitions}
    to_fetch = {name: parts for name, parts in pending.items() if parts}
    if to_fetch and len(to_fetch) < len(partitions):
        local = [name for name in partitions if name not in to_fetch]
        raise FileNotFoundError(
            f"partitions {sorted(to_fetch)} are not on disk ({to_fetch}) and would be downloaded "
            f"before decoding. To decode only what is there: inferencer.partitions="
            f"[{','.join(local)}]; to download the rest, list them in inferencer.partitions."
        )
    return partitions


def build_inferencer(cfg: DictConfig) -> Inferencer:
    """Model, features and vocabulary come from the checkpoint; data and decoders from `cfg`."""
    settings = typed(InferencerConfig, cfg.inferencer)
    device, amp = prepare_runtime(settings)
    trained = load_trained_model(settings.from_pretrained, weights=settings.weights)
    dataloaders = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        trained.text_encoder,
        inference_partitions(settings, cfg.datasets),
        seed=settings.seed,
        device_type=device.type,
    )
    decoders = build_decoders(cfg.decoders, trained.text_encoder)
    return Inferencer(
        pipeline=BatchPipeline(trained.model, trained.features, device, amp, decoders),
        dataloaders=dataloaders,
        metrics=build_metrics(cfg.metrics, list(decoders)),
        save_path=settings.save_path,
        output_decoder=settings.output_decoder,
        n_best=settings.n_best,
    )
