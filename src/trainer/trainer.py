"""Training with validation every epoch, AMP, gradient clipping and accumulation, and
experiment logging; steps that cannot be taken (non-finite loss or gradient, CUDA out of
memory) are skipped and counted. Under torchrun the model is DistributedDataParallel, every
rank trains on its shard and validates its share, and rank 0 logs and saves."""

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.datasets.loaders import BatchStream
from src.metrics import EditCounts, MetricTracker, rates, utterance_error_rates
from src.trainer.base_trainer import BaseTrainer
from src.trainer.budget import TimeBudget
from src.trainer.config import TrainerConfig
from src.trainer.distributed import unwrap
from src.trainer.pipeline import Batch, BatchPipeline
from src.utils.audio import load_audio
from src.utils.runtime import derived_seed

logger = logging.getLogger(__name__)

SKIP_REASONS = ("nonfinite", "oom")  # counted as train_<reason>_skipped


class TooManyBadSteps(RuntimeError):
    """`max_bad_steps` training steps in a row could not be taken."""


@dataclass
class Step:
    """A taken optimizer step, for the trackers: device tensors, read at log steps only."""

    batch: Batch  # the last micro-batch: log-probabilities, texts, audio
    loss_sum: torch.Tensor  # loss x utterances, summed over the micro-batches
    utterances: int
    grad_norm: torch.Tensor


class Trainer(BaseTrainer):
    resume_keys = (
        *BaseTrainer.resume_keys,
        "train_batches",
        "epoch_metrics",
        "skipped_steps",
        "bad_steps_in_row",
        "skipped_audio",
    )

    def __init__(
        self,
        settings: TrainerConfig,
        pipeline: BatchPipeline,
        criterion: torch.nn.Module,
        dataloaders: dict[str, DataLoader],
        metrics: dict[str, list],
        writer: Any,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(settings, model=unwrap(pipeline.model), **base_kwargs)
        self.pipeline = pipeline
        self.criterion = criterion.to(pipeline.device)
        self.train_loader = dataloaders[settings.train_partition]
        self.eval_loaders = {name: dataloaders[name] for name in settings.eval_partitions}
        self.metrics = metrics
        self.writer = writer
        self.train_decoders = settings.train_decoders
        self.eval_decoders = settings.eval_decoders
        self.grad_clip_norm = settings.grad_clip_norm
        self.grad_accum_steps = settings.grad_accum_steps
        self.log_step = settings.log_step
        self.train_metrics_every = settings.train_metrics_every
        self.log_examples = settings.log_examples
        self.log_augmentations = settings.log_augmentations
        self.train_batches = BatchStream(self.train_loader)
        self.skipped_audio: dict[str, str] = {}  # unreadable audio files met so far -> why
        self.epoch_tracker = MetricTracker()  # the epoch in progress (saved mid-epoch)
        self.skipped_steps = dict.fromkeys(SKIP_REASONS, 0)
        self.bad_steps_in_row = 0
        eval_batches = sum(len(loader) for loader in self.eval_loaders.values())
        if self.ema is not None:
            eval_batches *= 2  # the moving average is validated too
        self.budget = (
            None
            if settings.max_minutes is None
            else TimeBudget(settings.max_minutes, self.n_epochs, eval_batches)
        )

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        if self.step_in_epoch == 0:
            self.epoch_tracker.reset()
        tracker = MetricTracker()  # since the last log step
        progress = tqdm(
            desc=f"train {self.epoch}/{self.n_epochs}",
            initial=self.step_in_epoch,
            total=self.epoch_len,
            disable=not self.dist.is_main,
        )
        step = None
        while self.step_in_epoch < self.epoch_len or not self.budget_fitted:
            self.stop.check()
            with self.stop.fetching():
                batches = [self._next_train_batch() for _ in range(self.grad_accum_steps)]
            taken = self.train_step(batches)
            if taken is None:
                continue
            step = taken
            self.step += 1
            self.step_in_epoch += 1
            if not self.budget_fitted:
                self.fit_budget(self.budget)
                progress.total = self.epoch_len
            progress.update()
            self._track_step(step, tracker)
            if self.step % self.log_step == 0:
                logs = self._results(tracker)
                self.writer.set_step(self.step, "train")
                self.writer.add_scalars(logs)
                self.writer.add_scalar("learning_rate", self.optimizer.param_groups[0]["lr"])
                progress.set_postfix(loss=f"{logs['loss']:.3f}")
                tracker.reset()
        progress.close()
        self.writer.set_step(self.step, "train")
        if step is not None:  # None when resumed after the epoch's last step
            self._log_examples(step.batch)
            self._log_augmentations(step.batch)
        skipped = {f"{reason}_skipped": count for reason, count in self.skipped_steps.items()}
        skipped_audio = len(set().union(*self.dist.gather(set(self.skipped_audio))))
        self.writer.add_scalars({"skipped_audio_files": skipped_audio, **skipped})
        logs = {**self._results(self.epoch_tracker), **skipped}
        return {
            **{f"train_{key}": value for key, value in logs.items()},
            "skipped_audio_files": skipped_audio,
        }

    def _track_step(self, step: Step, tracker: MetricTracker) -> None:
        """Add a step to `tracker` and the epoch's: its loss and gradient norm (device tensors,
        summed where they are) and, every `train_metrics_every` steps and at the epoch's last,
        the error counts of its last micro-batch, decoded once for both."""
        counts = {}
        if self.step % self.train_metrics_every == 0 or self.step_in_epoch == self.epoch_len:
            step.batch = self.pipeline.decode(step.batch, self.train_decoders)
            counts = {metric.name: metric(**step.batch) for metric in self.metrics["train"]}
        for tracker_ in (tracker, self.epoch_tracker):
            self._track(tracker_, step.loss_sum, step.utterances, counts)
            tracker_.update("grad_norm", step.grad_norm)

    def _next_train_batch(self) -> Batch:
        """The next training batch that kept at least one utterance."""
        for _ in range(len(self.train_loader) + 1):
            batch = next(self.train_batches)
            if self._has_items(batch):
                return batch
        raise RuntimeError("no readable audio in a whole pass over the training data")

    def _has_items(self, batch: Batch) -> bool:
        """Warn once about each audio file skipped as unreadable; False for an empty batch."""
        for item in batch["skipped"]:
            if item["audio_path"] not in self.skipped_audio:
                self.skipped_audio[item["audio_path"]] = item["reason"]
                logger.warning("skipping utterance %s: %s", item["id"], item["reason"])
        return len(batch["id"]) > 0

    def train_step(self, batches: list[Batch]) -> Step | None:
        """One optimizer step over `batches`, the `grad_accum_steps` micro-batches: each loss
        divided by their number, gradients all-reduced across ranks in the last backward only
        (DDP's `no_sync` before). None when the step was skipped (non-finite loss or gradient,
        or CUDA out of memory), with the weights, the buffers (batch norm statistics, which a
        bad batch would poison), the optimizer and the schedule untouched.

        Losses and the gradient norm stay on the device (the trackers read them at log
        steps); the one host read is the skip decision, one bool: loss and norm finite (agreed
        by every rank under DDP)."""
        self.optimizer.zero_grad(set_to_none=True)
        buffers = [buffer.clone() for buffer in self.model.buffers()]  # small: BN statistics
        weighted_losses, utterances = [], 0
        try:
            for index, batch in enumerate(batches):
                ids, shape = batch["id"], tuple(batch["audio"].shape)
                # its SpecAugment masks
                seed = derived_seed(self.settings.seed, "step", self.step, self.dist.rank, index)
                with self._gradient_sync(last=index == len(batches) - 1):
                    batch = self.pipeline.forward(batch, train=True, seed=seed)
                    batch.update(self.criterion(**batch))
                    self.scaler.scale(batch["loss"] / len(batches)).backward()
                weighted_losses.append(batch["loss"].detach() * len(ids))
                utterances += len(ids)
        except torch.OutOfMemoryError as error:
            reason = f"out of memory ({str(error).splitlines()[0]})"
            if self.dist.enabled:  # the other ranks wait in this step's all-reduce
                raise RuntimeError(
                    f"batch {ids} of audio {shape}: {reason}. Under torchrun a step cannot be "
                    "skipped on one rank alone: use smaller batches (or trainer.grad_accum_steps)"
                ) from error
        else:
            reason = None
        if reason is not None:  # outside `except`: its traceback no longer holds tensors
            del batch, weighted_losses
            if self.pipeline.device.type == "cuda":
                torch.cuda.empty_cache()
            return self._skip_step("oom", f"batch {ids} of audio {shape}: {reason}", buffers)
        loss_sum = sum(weighted_losses)
        self.scaler.unscale_(self.optimizer)
        max_norm = self.grad_clip_norm if self.grad_clip_norm else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        finite = self.dist.agree_all(torch.isfinite(loss_sum) & torch.isfinite(grad_norm))
        if not finite.item():  # the step's one host read
            self.scaler.update()  # fp16: the scale backs off, as GradScaler does on overflow
            loss, norm = loss_sum.item() / utterances, grad_norm.item()
            detail = f"batch {ids} of audio {shape}: loss {loss}, gradient norm {norm}"
            return self._skip_step("nonfinite", detail, buffers)
        self.optimizer.step()  # gradients unscaled and finite: what GradScaler.step would do
        self.scaler.update()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        self.after_optimizer_step()
        self.bad_steps_in_row = 0
        return Step(batch, loss_sum, utterances, grad_norm.detach())

    def _gradient_sync(self, last: bool) -> AbstractContextManager:
        """DDP all-reduces the gradients in the backward of a step's last micro-batch only."""
        model = self.pipeline.model
        if last or not isinstance(model, DistributedDataParallel):
            return nullcontext()
        return model.no_sync()

    def _skip_step(self, reason: str, detail: str, buffers: list[torch.Tensor]) -> None:
        """Undo the step's forward (the model's `buffers` as they were), count and log it;
        `max_bad_steps` in a row stop the run."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, before in zip(self.model.buffers(), buffers, strict=True):
                buffer.copy_(before)
        self.skipped_steps[reason] += 1
        self.bad_steps_in_row += 1
        logger.warning("step %d skipped (%s): %s", self.step + 1, reason, detail)
        if self.bad_steps_in_row >= self.settings.max_bad_steps:
            raise TooManyBadSteps(
                f"{self.bad_steps_in_row} training steps in a row were skipped (trainer."
                f"max_bad_steps={self.settings.max_bad_steps}), the last one: {detail}. "
                "Non-finite: the run diverged (lower optimizer.lr, keep trainer.grad_clip_norm, "
                "try trainer.amp=off); out of memory: use smaller batches. The checkpoints in "
                f"{self.run_dir} are those of before."
            )

    @torch.no_grad()
    def evaluate(self, label: str = "") -> dict[str, float]:
        """Each rank decodes its share of every evaluated partition; the loss and error totals
        are summed across ranks, so corpus WER/CER are those of the whole partition."""
        self.model.eval()
        logs = {}
        for partition, loader in self.eval_loaders.items():
            name = f"{partition}_{label}" if label else partition
            tracker = MetricTracker()
            first_batch = None
            batches = tqdm(
                self.stop.until_stopped(loader),
                desc=f"{name} {self.epoch}",
                total=len(loader),
                leave=False,
                disable=not self.dist.is_main,
            )
            for batch in batches:
                if not self._has_items(batch):
                    continue
                batch = self.pipeline.forward(batch)
                batch.update(self.criterion(**batch))
                batch = self.pipeline.decode(batch, self.eval_decoders)
                counts = {metric.name: metric(**batch) for metric in self.metrics["eval"]}
                size = len(batch["id"])
                self._track(tracker, batch["loss"] * size, size, counts)
                first_batch = first_batch or batch
            results = self._results(tracker)
            self.writer.set_step(self.step, name)
            self.writer.add_scalars(results)
            if first_batch is not None:
                self._log_examples(first_batch)
            logs.update({f"{name}_{key}": value for key, value in results.items()})
        self.model.train()
        return logs

    def rank_state(self) -> dict[str, Any]:
        return {
            **super().rank_state(),
            "train_batches": self.train_batches.state_dict(),
            "skipped_audio": dict(self.skipped_audio),
        }

    def load_rank_state(self, state: dict[str, Any]) -> None:
        super().load_rank_state(state)
        self.train_batches.load_state_dict(state["train_batches"])
        self.skipped_audio.update(state["skipped_audio"])

    def state_dict(self, epoch_done: bool = False) -> dict[str, Any]:
        """`epoch_metrics`: the totals of the epoch in progress summed over the ranks; rank 0
        takes them back on resume, the others start from zero, so the sums stay right."""
        epoch_totals = self.dist.sum_totals(self.epoch_tracker.totals())
        return {
            **super().state_dict(epoch_done),
            "epoch_metrics": {} if epoch_done else {k: list(v) for k, v in epoch_totals.items()},
            "skipped_steps": dict(self.skipped_steps),
            "bad_steps_in_row": self.bad_steps_in_row,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.epoch_tracker.load_state_dict(state["epoch_metrics"] if self.dist.is_main else {})
        self.skipped_steps.update(state["skipped_steps"])
        self.bad_steps_in_row = state["bad_steps_in_row"]

    def _results(self, tracker: MetricTracker) -> dict[str, float]:
        """The tracker's metrics over every rank's batches (a collective under torchrun)."""
        return rates(self.dist.sum_totals(tracker.totals()))

    @staticmethod
    def _track(
        tracker: MetricTracker,
        loss_sum: torch.Tensor,
        utterances: int,
        counts: dict[str, EditCounts],
    ) -> None:
        tracker.update("loss", loss_sum, utterances)
        for name, edits in counts.items():
            tracker.update(name, *edits)

    def _log_examples(self, batch: Batch) -> None:
        """A spectrogram, a few audio clips and a predictions table for the current step (rank
        0)."""
        count = min(self.log_examples, len(batch["id"]))
        if count == 0 or not self.dist.is_main:
            return
        length = int(batch["spectrogram_length"][0])
        self.writer.add_spectrogram("spectrogram", batch["spectrogram"][0, :, :length].cpu())
        rows = []
        for index in range(count):
            audio = batch["audio"][index, : int(batch["audio_length"][index])].cpu()
            self.writer.add_audio(f"audio_{index}", audio, self.pipeline.features.sample_rate)
            reference = batch["text"][index]
            row = {"id": batch["id"][index], "target": reference}
            for decoder, hypotheses in batch["predictions"].items():
                row[f"prediction_{decoder}"] = hypotheses[index]
                wer, cer = utterance_error_rates(reference, hypotheses[index])
                row[f"WER_{decoder}"], row[f"CER_{decoder}"] = wer, cer
            rows.append(row)
        self.writer.add_table("predictions", rows)

    @torch.no_grad()
    def _log_augmentations(self, batch: Batch) -> None:
        """Before / after for the first `log_augmentations` utterances of a training batch: the
        clean audio, re-read from its file (`audio_{i}` is the augmented one the model heard),
        and one image of the spectrograms: clean, after the wave augmentations, after
        SpecAugment (rank 0)."""
        features = self.pipeline.features
        count = min(self.log_augmentations, len(batch["id"])) if self.dist.is_main else 0
        for index in range(count):
            clean = load_audio(batch["audio_path"][index], features.sample_rate)
            augmented = batch["audio"][index, : int(batch["audio_length"][index])]
            panels = {
                "clean": self._spectrogram(clean),
                "after wave augmentations": self._spectrogram(augmented),
            }
            if self.pipeline.spec_augs:
                frames = int(batch["spectrogram_length"][index])
                panels["after SpecAugment (model input)"] = batch["spectrogram"][index, :, :frames]
            self.writer.add_audio(f"clean_audio_{index}", clean, features.sample_rate)
            self.writer.add_spectrograms(f"augmentations_{index}", panels)

    def _spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """The features of one waveform (L,), without spectrogram augmentation."""
        audio = audio.to(self.pipeline.device).unsqueeze(0)
        length = torch.tensor([audio.shape[-1]], device=self.pipeline.device)
        return self.pipeline.features(audio=audio, audio_length=length)["spectrogram"][0]
