"""Builds a Trainer or an Inferencer from a composed Hydra config."""

import logging
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.datasets.transcripts import training_transcripts
from src.model import build_model
from src.text_encoder import build_text_encoder
from src.trainer.inferencer import Inferencer
from src.trainer.pipeline import BatchPipeline
from src.trainer.restore import load_trained_model
from src.trainer.trainer import Trainer
from src.utils.build import (
    build_dataloaders,
    build_decoders,
    build_metrics,
    model_output_length,
)
from src.utils.runtime import resolve_amp, resolve_device, set_num_threads, set_seed

logger = logging.getLogger(__name__)


def _prepare(run_config: DictConfig) -> tuple[torch.device, str]:
    """Seed, threads, device and the mixed-precision mode (`auto` resolved for the device)."""
    set_seed(run_config.seed)
    set_num_threads(run_config.num_threads)
    device = resolve_device(run_config.device)
    amp = resolve_amp(run_config.amp, device)
    logger.info("device %s, amp %s, %d torch threads", device, amp, torch.get_num_threads())
    return device, amp


def _check_decoder_names(cfg: DictConfig) -> None:
    """Trainer decoder names must be decoders the config builds: fail before any setup work,
    not after the first training epoch."""
    for setting in ("train_decoders", "eval_decoders"):
        unknown = sorted(set(cfg.trainer[setting]) - set(cfg.decoders))
        if unknown:
            raise ValueError(
                f"trainer.{setting} names {unknown}, but the decoders config builds only "
                f"{sorted(cfg.decoders)} (e.g. decoders=beam_search adds BeamSearch)"
            )


def build_trainer(cfg: DictConfig) -> Trainer:
    settings = cfg.trainer
    _check_decoder_names(cfg)
    device, amp = _prepare(settings)
    text_encoder = build_text_encoder(
        cfg.text_encoder, lambda: training_transcripts(cfg.datasets.train)
    )
    transforms = instantiate(cfg.transforms)
    features = transforms.features
    model = build_model(cfg.model, features.n_feats, len(text_encoder))
    eval_partitions = settings.eval_partitions
    if eval_partitions is None:  # every validation set of the dataset config
        eval_partitions = [name for name in cfg.datasets if name.startswith("val")]
    partitions = ["train", *eval_partitions]
    dataloaders = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        text_encoder,
        partitions,
        transforms.get("wave_augs"),
        output_length=model_output_length(model, features),
        skip_bad_audio=True,
        seed=settings.seed,
    )
    decoders = build_decoders(cfg.decoders, text_encoder)
    pipeline = BatchPipeline(model, features, device, amp, decoders, transforms.get("spec_augs"))
    optimizer = instantiate(
        cfg.optimizer, params=[p for p in model.parameters() if p.requires_grad]
    )
    lr_scheduler = instantiate(cfg.lr_scheduler, optimizer=optimizer) if cfg.lr_scheduler else None
    run_dir = Path(settings.save_dir) / settings.run_name
    config = OmegaConf.to_container(cfg, resolve=True)
    writer = instantiate(cfg.writer, _partial_=True)(
        run_dir=run_dir, run_name=settings.run_name, config=config
    )
    trainer = Trainer(
        pipeline=pipeline,
        criterion=instantiate(cfg.loss_function),
        dataloaders=dataloaders,
        metrics={
            "train": build_metrics(cfg.metrics, list(settings.train_decoders)),
            "eval": build_metrics(cfg.metrics, list(settings.eval_decoders)),
        },
        writer=writer,
        train_decoders=list(settings.train_decoders),
        eval_decoders=list(settings.eval_decoders),
        grad_clip_norm=settings.grad_clip_norm,
        log_step=settings.log_step,
        log_examples=settings.log_examples,
        # nothing to show clean vs augmented in a run without augmentations
        log_augmentations=settings.log_augmentations
        if transforms.get("wave_augs") or transforms.get("spec_augs")
        else 0,
        optimizer=optimizer,
        lr_scheduler=lr_scheduler,
        scaler=torch.amp.GradScaler(device.type, enabled=amp == "fp16"),
        run_dir=run_dir,
        config=config,
        vocab=text_encoder.vocab,
        text_encoder_state=text_encoder.checkpoint_state(),
        n_epochs=settings.n_epochs,
        epoch_len=settings.epoch_len,
        save_period=settings.save_period,
        monitor=settings.monitor,
        early_stop=settings.early_stop,
    )
    if settings.resume_from:
        trainer.resume(settings.resume_from)
    elif settings.from_pretrained:
        trainer.load_pretrained(settings.from_pretrained)
    return trainer


def build_inferencer(cfg: DictConfig) -> Inferencer:
    """Model, features and vocabulary come from the checkpoint; data and decoders from `cfg`."""
    settings = cfg.inferencer
    device, amp = _prepare(settings)
    trained = load_trained_model(settings.from_pretrained)
    model, features, text_encoder = trained.model, trained.features, trained.text_encoder
    partitions = list(settings.partitions or [name for name in cfg.datasets if name != "train"])
    dataloaders = build_dataloaders(
        cfg.datasets, cfg.dataloader, text_encoder, partitions, seed=settings.seed
    )
    decoders = build_decoders(cfg.decoders, text_encoder)
    return Inferencer(
        pipeline=BatchPipeline(model, features, device, amp, decoders),
        dataloaders=dataloaders,
        metrics=build_metrics(cfg.metrics, list(decoders)),
        save_path=settings.save_path,
        output_decoder=settings.output_decoder,
    )
