"""Epoch loop, monitoring, early stopping and checkpoints; subclasses define the epochs."""

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import nn

from src.trainer.config import TrainerConfig
from src.utils.checkpoint import load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)


def parse_monitor(monitor: str) -> tuple[str, str]:
    """'min val_WER_(Argmax)' -> ('min', 'val_WER_(Argmax)'); 'off' disables monitoring."""
    if monitor == "off":
        return "off", ""
    mode, _, key = monitor.partition(" ")
    if mode not in ("min", "max") or not key:
        raise ValueError(f"monitor must be 'off' or 'min|max <metric>', got {monitor!r}")
    return mode, key


class BaseTrainer(ABC):
    """Runs `n_epochs` of `epoch_len` steps, keeps the best checkpoint and can resume exactly.

    `settings` is the typed `trainer` config node; `config` the whole resolved run config,
    stored in every checkpoint with the vocabulary."""

    def __init__(
        self,
        settings: TrainerConfig,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: Any,
        scaler: torch.amp.GradScaler,
        run_dir: Path,
        config: dict[str, Any],
        vocab: list[str],
        text_encoder_state: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.scaler = scaler
        self.run_dir = Path(run_dir)
        self.config = config
        self.vocab = vocab
        self.text_encoder_state = text_encoder_state  # e.g. a sentencepiece model
        self.n_epochs = settings.n_epochs
        self.epoch_len = settings.epoch_len
        self.save_period = settings.save_period
        self.monitor_mode, self.monitor_key = parse_monitor(settings.monitor)
        self.early_stop = settings.early_stop
        self.monitor_best = float("inf") if self.monitor_mode == "min" else float("-inf")
        self.not_improved_count = 0
        self.epoch = 1  # the epoch in progress (or next to run)
        self.step = 0  # optimizer steps taken in the whole run
        self.step_in_epoch = 0

    @abstractmethod
    def train_epoch(self) -> dict[str, float]:
        """Run the rest of epoch `self.epoch` from `self.step_in_epoch`; return its logs."""

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """Validation logs, keys prefixed by partition (e.g. `val_loss`)."""

    def train(self) -> dict[str, float]:
        """Train to the end (or an early stop); Ctrl-C saves `interrupted.pth` and re-raises."""
        logs: dict[str, float] = {}
        try:
            while self.epoch <= self.n_epochs:
                logs = {"epoch": self.epoch, **self.train_epoch(), **self.evaluate()}
                logger.info("  ".join(f"{key}: {value:.4g}" for key, value in logs.items()))
                should_stop = self._update_monitor(logs)
                self.epoch += 1
                self.step_in_epoch = 0
                finished = should_stop or self.epoch > self.n_epochs
                if finished or (self.epoch - 1) % self.save_period == 0:
                    self.save("last.pth")
                if should_stop:
                    logger.info("no improvement for %d epochs: early stop", self.early_stop)
                    break
        except KeyboardInterrupt:
            path = self.save("interrupted.pth")
            logger.warning("interrupted: saved %s (resume with trainer.resume_from)", path)
            raise
        return logs

    def _update_monitor(self, logs: dict[str, float]) -> bool:
        """Save `model_best.pth` on improvement; True when early stopping should end training."""
        if self.monitor_mode == "off":
            return False
        if self.monitor_key not in logs:
            raise KeyError(f"monitored metric {self.monitor_key!r} not in logs: {sorted(logs)}")
        value = logs[self.monitor_key]
        improved = (
            value < self.monitor_best if self.monitor_mode == "min" else value > self.monitor_best
        )
        if improved:
            self.monitor_best = value
            self.not_improved_count = 0
            self.save("model_best.pth", epoch_done=True)
        else:
            self.not_improved_count += 1
        return self.early_stop is not None and self.not_improved_count >= self.early_stop

    def state_dict(self, epoch_done: bool = False) -> dict[str, Any]:
        epoch = self.epoch + 1 if epoch_done else self.epoch
        text_encoder = (
            {} if self.text_encoder_state is None else {"text_encoder": self.text_encoder_state}
        )
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler else None,
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "step": self.step,
            "step_in_epoch": 0 if epoch_done else self.step_in_epoch,
            "monitor_best": self.monitor_best,
            "not_improved_count": self.not_improved_count,
            "torch_rng_state": torch.get_rng_state(),
            "config": self.config,
            "vocab": self.vocab,
            **text_encoder,
        }

    def save(self, name: str, epoch_done: bool = False) -> Path:
        path = save_checkpoint(self.state_dict(epoch_done), self.run_dir / name)
        logger.info("saved checkpoint %s (epoch %d, step %d)", path, self.epoch, self.step)
        return path

    def resume(self, path: str | Path) -> None:
        """Restore everything needed to continue the run at the same step."""
        state = load_checkpoint(path)
        self._check_vocab(state, path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        self.step = state["step"]
        self.step_in_epoch = state["step_in_epoch"]
        self.monitor_best = state["monitor_best"]
        self.not_improved_count = state["not_improved_count"]
        torch.set_rng_state(state["torch_rng_state"])
        logger.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step)

    def load_pretrained(self, path: str | Path) -> None:
        """Weights only: a fresh optimizer, schedule and step count."""
        state = load_checkpoint(path)
        self._check_vocab(state, path)
        self.model.load_state_dict(state["model"])
        logger.info("loaded weights from %s", path)

    def _check_vocab(self, state: dict[str, Any], path: str | Path) -> None:
        if state.get("vocab") != self.vocab:
            raise ValueError(f"{path}: vocabulary {state.get('vocab')} differs from {self.vocab}")
