"""Epoch loop, monitoring, early stopping and checkpoints; subclasses define the epochs."""

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from src.trainer.averaging import ExponentialMovingAverage
from src.trainer.budget import TIMED_STEPS, WARM_UP_STEPS, TimeBudget
from src.trainer.config import TrainerConfig
from src.trainer.distributed import Distributed
from src.trainer.signals import StopRequests, TrainingInterrupted
from src.utils.checkpoint import load_checkpoint, save_checkpoint
from src.utils.files import temporary_files
from src.utils.runtime import rng_states, set_rng_states

logger = logging.getLogger(__name__)


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (e.g. a full disk); the previous one is intact."""


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
    stored in every checkpoint with the vocabulary. While training, SIGINT and SIGTERM stop the
    run at the next safe point (after the current step or validation batch) with
    `interrupted.pth`, from which a resume continues as if nothing happened; temporaries of a
    save killed earlier in `run_dir` are removed at start.

    Under torchrun (`dist`) every rank runs the same epochs and takes part in each save (the
    per-rank state is gathered), and rank 0 alone writes the files."""

    # what `resume` needs from a checkpoint (older versions' lack some: not resumable)
    resume_keys: tuple[str, ...] = (
        "model",
        "optimizer",
        "lr_scheduler",
        "scaler",
        "epoch",
        "step",
        "step_in_epoch",
        "monitor_best",
        "not_improved_count",
        "rng",
        "vocab",
    )

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
        dist: Distributed | None = None,
        make_lr_scheduler: Callable[[int], Any] | None = None,
    ) -> None:
        """`make_lr_scheduler(total_steps)` rebuilds the schedule for another number of steps
        (a run fitted to `trainer.max_minutes`)."""
        self.settings = settings
        self.dist = dist or Distributed()
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
        self.stop = StopRequests(self.dist.agree_stop if self.dist.enabled else None)
        self.validating = False  # between the epoch's last step and the end of its validation
        self._rng_after_steps: dict[str, Any] | None = None
        self.make_lr_scheduler = make_lr_scheduler
        self.ema = (
            ExponentialMovingAverage(model, settings.ema_decay) if settings.ema_decay else None
        )
        self.budget: TimeBudget | None = None  # set by a subclass that knows its eval batches
        self.budget_fitted = settings.max_minutes is None
        self.budget_spent = 0.0  # seconds of the budget an interrupted run had used
        self.schedule_steps: int | None = None  # a fitted run's schedule length
        measuring = WARM_UP_STEPS + TIMED_STEPS
        if (
            not self.budget_fitted
            and make_lr_scheduler
            and self.n_epochs * self.epoch_len < measuring
        ):
            self.lr_scheduler = make_lr_scheduler(measuring)  # lasts until the first plan
        self.kept_epochs: dict[int, float] = {}  # epoch_<N>.pth -> its monitored value
        if self.dist.is_main:
            self._remove_stale_temporaries()

    @abstractmethod
    def train_epoch(self) -> dict[str, float]:
        """Run the rest of epoch `self.epoch` from `self.step_in_epoch`; return its logs."""

    @abstractmethod
    def evaluate(self, label: str = "") -> dict[str, float]:
        """Validation logs, keys prefixed by partition and `label` (e.g. `val_loss`,
        `val_ema_loss`)."""

    def fit_budget(self, budget: TimeBudget) -> None:
        """After each training step while `trainer.max_minutes` is being fitted: once the
        budget knows the machine's rate, size the epochs."""
        epoch_len = budget.epoch_len(self.step, self.epoch_len)
        if epoch_len is None:
            return
        self.budget_fitted = True
        epochs = self.n_epochs - self.epoch + 1  # this one (its steps so far count) and the rest
        self._set_epoch_len(epoch_len, self.step - self.step_in_epoch + epochs * epoch_len)

    def refit_budget(self, budget: TimeBudget, per_step: float, evaluation: float) -> None:
        """After the validation of epoch `self.epoch`: size the epochs after it from its
        seconds per step and validation seconds."""
        epochs_left = self.n_epochs - self.epoch
        if epochs_left > 0:
            epoch_len = budget.refit(epochs_left, per_step, evaluation, self.epoch_len)
            self._set_epoch_len(epoch_len, self.step + epochs_left * epoch_len)

    def _set_epoch_len(self, epoch_len: int, schedule_steps: int) -> None:
        """The run's epochs are now `epoch_len` steps and `schedule_steps` in all: the
        schedule (OneCycle: `steps_per_epoch` in its config) is rebuilt for them and advanced
        to the current step. Under torchrun rank 0's plan sizes every rank's epochs (every
        rank plans at the same step), so that all run as many steps."""
        epoch_len, schedule_steps = self.dist.broadcast((epoch_len, schedule_steps))
        self.epoch_len = epoch_len
        if self.make_lr_scheduler is not None:
            self.schedule_steps = schedule_steps
            self.lr_scheduler = self.make_lr_scheduler(schedule_steps)
            for _ in range(self.step):
                self.lr_scheduler.step()

    def after_optimizer_step(self) -> None:
        """Bookkeeping of a step that updated the weights: the moving average."""
        if self.ema is not None:
            self.ema.update(self.model)

    def train(self) -> dict[str, float]:
        """Train to the end (or an early stop). SIGINT or SIGTERM: `interrupted.pth` is saved
        at the next safe point and `TrainingInterrupted` raised; a second signal aborts
        (`KeyboardInterrupt`) without saving anything."""
        logs: dict[str, float] = {}
        if self.budget is not None:
            self.budget.start(self.budget_spent)
        with self.stop:
            try:
                while self.epoch <= self.n_epochs:
                    started, steps_before = time.perf_counter(), self.step
                    logs = {"epoch": self.epoch, **self.train_epoch()}
                    trained = time.perf_counter()
                    self.validating, self._rng_after_steps = True, rng_states()
                    logs.update(self.evaluate())
                    if self.ema is not None:
                        with self.ema.applied_to(self.model):
                            logs.update(self.evaluate(label="ema"))
                    self.validating = False
                    if self.budget is not None and self.step > steps_before:
                        per_step = (trained - started) / (self.step - steps_before)
                        self.refit_budget(self.budget, per_step, time.perf_counter() - trained)
                    logger.info("  ".join(f"{key}: {value:.4g}" for key, value in logs.items()))
                    should_stop = self._update_monitor(logs)
                    if self.settings.keep_epochs > 0:
                        self._keep_epoch(logs)
                    self.epoch += 1
                    self.step_in_epoch = 0
                    finished = should_stop or self.epoch > self.n_epochs
                    if finished or (self.epoch - 1) % self.save_period == 0:
                        self.save("last.pth")
                    if should_stop:
                        logger.info("no improvement for %d epochs: early stop", self.early_stop)
                        break
            except TrainingInterrupted as interrupted:
                path = self.save("interrupted.pth")
                logger.warning(
                    "%s at epoch %d, step %d: saved %s (continue with trainer.resume_from=%s)",
                    interrupted,
                    self.epoch,
                    self.step,
                    path,
                    path,
                )
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

    def rank_state(self) -> dict[str, Any]:
        """What differs between ranks: the random generators. During validation: as of the end
        of the epoch's training steps (a resume re-runs the validation)."""
        return {"rng": self._rng_after_steps if self.validating else rng_states()}

    def state_dict(self, epoch_done: bool = False) -> dict[str, Any]:
        """Everything that decides the next step. Under torchrun, `ranks` holds every rank's
        `rank_state()` (gathered: a collective, every rank calls this), rank 0's also at the
        top level, where a single process reads it."""
        epoch = self.epoch + 1 if epoch_done else self.epoch
        text_encoder = (
            {} if self.text_encoder_state is None else {"text_encoder": self.text_encoder_state}
        )
        ranks = self.dist.gather(self.rank_state())
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
            **ranks[0],
            **({"ranks": ranks} if self.dist.enabled else {}),
            "epoch_len": self.epoch_len,
            "budget_fitted": self.budget_fitted,
            "budget_spent": self.budget.elapsed() if self.budget is not None else 0.0,
            "schedule_steps": self.schedule_steps,
            "kept_epochs": dict(self.kept_epochs),
            **({} if self.ema is None else {"ema": self.ema.state_dict()}),
            "config": self.config,
            "vocab": self.vocab,
            **text_encoder,
        }

    def save(self, name: str, epoch_done: bool = False) -> Path:
        """Write `run_dir/name` atomically. A failed write (a full disk) leaves the previous
        file intact and stops the run with `CheckpointSaveError` saying so: training on
        without checkpoints would only lose more work. Every rank calls it; rank 0 writes."""
        path = self.run_dir / name
        state = self.state_dict(epoch_done)
        if not self.dist.is_main:
            return path
        try:
            save_checkpoint(state, path)
        except OSError as error:
            kept = f"the previous {name} is intact" if path.is_file() else f"no {name} existed"
            message = (
                f"could not save {path} ({error}); {kept}. Training stops: free space, then "
                "continue from the latest checkpoint with trainer.resume_from"
            )
            logger.error(message)
            raise CheckpointSaveError(message) from error
        logger.info("saved checkpoint %s (epoch %d, step %d)", path, self.epoch, self.step)
        return path

    def _keep_epoch(self, logs: dict[str, float]) -> None:
        """Write this epoch's weights as `epoch_<N>.pth` (what inference and `python -m
        src.average` need, with the monitored value), then keep only the last `keep_epochs`
        and the best `keep_epochs` of them (rank 0 writes; every rank keeps the account)."""
        value = logs.get(self.monitor_key, math.nan)
        state = {
            "model": self.model.state_dict(),
            **({} if self.ema is None else {"ema": self.ema.state_dict()}),
            **(
                {} if self.text_encoder_state is None else {"text_encoder": self.text_encoder_state}
            ),
            "config": self.config,
            "vocab": self.vocab,
            "epoch": self.epoch,
            "step": self.step,
            "monitor": {self.monitor_key: value},
        }
        if self.dist.is_main:
            save_checkpoint(state, self.run_dir / f"epoch_{self.epoch}.pth")
        self.kept_epochs[self.epoch] = value
        count = self.settings.keep_epochs
        scored = [epoch for epoch, score in self.kept_epochs.items() if not math.isnan(score)]
        best = sorted(scored, key=self.kept_epochs.__getitem__, reverse=self.monitor_mode == "max")
        keep = set(sorted(self.kept_epochs)[-count:]) | set(best[:count])
        for epoch in sorted(set(self.kept_epochs) - keep):
            if self.dist.is_main:
                (self.run_dir / f"epoch_{epoch}.pth").unlink(missing_ok=True)
            del self.kept_epochs[epoch]

    def _remove_stale_temporaries(self) -> None:
        """Checkpoint temporaries a killed save left behind (`atomic_output` names them)."""
        for stale in temporary_files(self.run_dir, "*.pth"):
            stale.unlink(missing_ok=True)
            logger.warning("removed %s, left by a save that was killed", stale)

    def resume(self, path: str | Path) -> None:
        """Restore everything needed to continue the run at the same step."""
        state = load_checkpoint(path)
        missing = [key for key in self.resume_keys if key not in state]
        if missing:
            raise ValueError(
                f"{path}: cannot resume exactly, the checkpoint lacks {missing} (written by an "
                "older version?); trainer.from_pretrained starts a new run from its weights"
            )
        self._check_vocab(state, path)
        self.load_state_dict(state)
        logger.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.epoch_len = state.get("epoch_len", self.epoch_len)
        self.budget_fitted = state.get("budget_fitted", True)
        self.budget_spent = state.get("budget_spent", 0.0)
        self.schedule_steps = state.get("schedule_steps")
        self.kept_epochs = dict(state.get("kept_epochs", {}))
        if self.make_lr_scheduler is not None and self.schedule_steps is not None:
            self.lr_scheduler = self.make_lr_scheduler(self.schedule_steps)  # state loaded below
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            else:
                logger.warning("the checkpoint has no moving average: it starts from its weights")
                self.ema = ExponentialMovingAverage(self.model, self.ema.decay)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        self.step = state["step"]
        self.step_in_epoch = state["step_in_epoch"]
        self.monitor_best = state["monitor_best"]
        self.not_improved_count = state["not_improved_count"]
        self.load_rank_state(self._own_rank_state(state))

    def load_rank_state(self, state: dict[str, Any]) -> None:
        set_rng_states(state["rng"])

    def _own_rank_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """This rank's part of a checkpoint's per-rank state. Written by another number of
        processes, rank 0's is taken (the run continues, not exactly: the data is sharded
        differently)."""
        ranks = state.get("ranks", [state])
        if len(ranks) == self.dist.world_size:
            return ranks[self.dist.rank]
        logger.warning(
            "the checkpoint was written by %d processes, this run has %d: it continues from "
            "rank 0's data position and random generators (not an exact resume)",
            len(ranks),
            self.dist.world_size,
        )
        return ranks[0]

    def load_pretrained(self, path: str | Path) -> None:
        """Weights only: a fresh optimizer, schedule and step count; the moving average (if
        any) starts from these weights."""
        state = load_checkpoint(path)
        self._check_vocab(state, path)
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema = ExponentialMovingAverage(self.model, self.ema.decay)
        logger.info("loaded weights from %s", path)

    def _check_vocab(self, state: dict[str, Any], path: str | Path) -> None:
        if state.get("vocab") != self.vocab:
            raise ValueError(f"{path}: vocabulary {state.get('vocab')} differs from {self.vocab}")
