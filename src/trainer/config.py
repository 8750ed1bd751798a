"""Typed config nodes (Hydra structured configs) for the trainer, the inferencer and the LM
weight tuner. Hydra checks every key and value against these dataclasses while it composes,
so `trainer.n_epochs=abc` or `trainer.n_epoch=1` fails with the key's name before anything is
built. The YAML files in `configs/` set the values; `register()` makes the schemas available
to their defaults lists (`schema/trainer`, `schema/inferencer`, `schema/tune`,
`schema/dataloader`)."""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from src.datasets.loaders import LoaderConfig


@dataclass
class RuntimeConfig:
    """Process-wide settings shared by training and inference."""

    device: str = "auto"  # auto = cuda when available, else cpu
    amp: str = "auto"  # auto | off | bf16 | fp16; auto = bf16 where native, fp16 on old GPUs
    num_threads: int | None = None  # torch intra-op threads; None = torch's default
    seed: int = 1
    tf32: bool = True  # on CUDA, fp32 matrix products and convolutions in TF32 (Ampere+)


@dataclass
class TrainerConfig(RuntimeConfig):
    n_epochs: int = 50
    epoch_len: int = 500  # optimizer steps per epoch (iteration-based epochs)
    grad_clip_norm: float | None = 400.0
    grad_accum_steps: int = 1  # micro-batches per optimizer step (losses divided by it)
    max_bad_steps: int = 50  # skipped steps in a row (non-finite, out of memory) that stop the run
    log_step: int = 50
    train_metrics_every: int = 50  # decode and score a train batch every N steps (and the last)
    log_examples: int = 4
    log_augmentations: int = 2  # train utterances logged clean vs augmented each epoch; 0 = off
    train_partition: str = "train"
    eval_partitions: list[str] = field(default_factory=lambda: ["val"])
    train_decoders: list[str] = field(default_factory=lambda: ["Argmax"])
    eval_decoders: list[str] = field(default_factory=lambda: ["Argmax"])
    monitor: str = "min val_WER_(Argmax)"  # 'min|max <logged key>' or 'off'
    early_stop: int | None = None  # epochs without improvement before stopping
    save_period: int = 1  # write last.pth every N epochs
    max_minutes: float | None = None  # a wall-clock budget: epoch_len fitted to this machine
    ema_decay: float | None = None  # e.g. 0.999: also evaluate and save an EMA of the weights
    keep_epochs: int = 0  # > 0: epoch_<N>.pth weights of the last K and the best K epochs
    save_dir: str = "saved"
    run_name: str = MISSING
    resume_from: str | None = None  # a checkpoint to continue exactly
    from_pretrained: str | None = None  # a checkpoint whose weights only are loaded
    sync_batch_norm: bool = False  # torchrun: batch statistics over every rank's valid frames
    dist_timeout_s: float = 600.0  # torchrun: a collective waiting longer fails, never hangs


@dataclass
class InferencerConfig(RuntimeConfig):
    from_pretrained: str = MISSING  # a .pth written by train.py (or python -m src.average)
    weights: str = "model"  # model | ema (the moving average of a run with trainer.ema_decay)
    save_path: str = "predictions"  # <save_path>/<partition>/<id>.txt and predictions.jsonl
    output_decoder: str = "Argmax"  # whose hypotheses go to the .txt files
    n_best: int = 1  # > 1: predictions.jsonl also lists each decoder's K best hypotheses
    partitions: list[str] | None = None  # None = every partition not in exclude_partitions
    exclude_partitions: list[str] = field(default_factory=lambda: ["train"])


@dataclass
class TuneConfig:
    partition: str = "val"
    decoder: str = "LM"  # the decoder of the decoders config to tune
    alphas: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0, 1.5])
    betas: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0, 3.0])
    cache_path: str | None = None  # None: <checkpoint folder>/log_probs_<partition>.pt
    output: str | None = None  # None: <checkpoint folder>/lm_params.yaml


SCHEMAS = {
    "trainer": TrainerConfig,
    "inferencer": InferencerConfig,
    "tune": TuneConfig,
    "dataloader": LoaderConfig,
}


def register() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent); call before composing."""
    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(group="schema", name=name, node=node, package=name)


register()
