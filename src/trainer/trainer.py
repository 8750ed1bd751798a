"""Training with validation every epoch, AMP, gradient clipping and experiment logging; steps
that cannot be taken (non-finite loss or gradient, CUDA out of memory) are skipped and counted."""

import logging
import math
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.datasets.loaders import BatchStream
from src.metrics import MetricTracker, utterance_error_rates
from src.trainer.base_trainer import BaseTrainer
from src.trainer.budget import TimeBudget
from src.trainer.config import TrainerConfig
from src.trainer.pipeline import Batch, BatchPipeline
from src.utils.audio import load_audio
from src.utils.runtime import derived_seed

logger = logging.getLogger(__name__)

SKIP_REASONS = ("nonfinite", "oom")  # counted as train_<reason>_skipped


class TooManyBadSteps(RuntimeError):
    """`max_bad_steps` training steps in a row could not be taken."""


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
        super().__init__(settings, model=pipeline.model, **base_kwargs)
        self.pipeline = pipeline
        self.criterion = criterion.to(pipeline.device)
        self.train_loader = dataloaders[settings.train_partition]
        self.eval_loaders = {name: dataloaders[name] for name in settings.eval_partitions}
        self.metrics = metrics
        self.writer = writer
        self.train_decoders = settings.train_decoders
        self.eval_decoders = settings.eval_decoders
        self.grad_clip_norm = settings.grad_clip_norm
        self.log_step = settings.log_step
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
        tracker = MetricTracker()
        progress = tqdm(
            desc=f"train {self.epoch}/{self.n_epochs}",
            initial=self.step_in_epoch,
            total=self.epoch_len,
        )
        batch = None
        while self.step_in_epoch < self.epoch_len or not self.budget_fitted:
            self.stop.check()
            with self.stop.fetching():
                next_batch = self._next_train_batch()
            stepped = self.train_step(next_batch)
            if stepped is None:
                continue
            batch = stepped
            self.step += 1
            self.step_in_epoch += 1
            if not self.budget_fitted:
                self.fit_budget(self.budget)
                progress.total = self.epoch_len
            progress.update()
            for tracker_ in (tracker, self.epoch_tracker):
                self._track(tracker_, batch, self.metrics["train"], len(batch["id"]))
                tracker_.update("grad_norm", batch["grad_norm"])
            progress.set_postfix(loss=f"{batch['loss'].item():.3f}")
            if self.step % self.log_step == 0:
                self.writer.set_step(self.step, "train")
                self.writer.add_scalars(tracker.result())
                self.writer.add_scalar("learning_rate", self.optimizer.param_groups[0]["lr"])
                tracker.reset()
        progress.close()
        self.writer.set_step(self.step, "train")
        if batch is not None:  # None when resumed after the epoch's last step
            self._log_examples(batch)
            self._log_augmentations(batch)
        skipped = {f"{reason}_skipped": count for reason, count in self.skipped_steps.items()}
        self.writer.add_scalars({"skipped_audio_files": len(self.skipped_audio), **skipped})
        logs = {**self.epoch_tracker.result(), **skipped}
        return {
            **{f"train_{key}": value for key, value in logs.items()},
            "skipped_audio_files": len(self.skipped_audio),
        }

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

    def train_step(self, batch: Batch) -> Batch | None:
        """One optimizer step; None when it was skipped (non-finite loss or gradient, or CUDA
        out of memory), with the weights, the buffers (batch norm statistics, which a bad
        batch would poison), the optimizer and the schedule untouched. The loss and the
        gradient norm come to the host together: the step's one sync."""
        self.optimizer.zero_grad(set_to_none=True)
        ids, shape = batch["id"], tuple(batch["audio"].shape)
        buffers = [buffer.clone() for buffer in self.model.buffers()]  # small: BN statistics
        seed = derived_seed(self.settings.seed, "step", self.step)  # its SpecAugment masks
        try:
            batch = self.pipeline.forward(batch, train=True, seed=seed)
            batch.update(self.criterion(**batch))
            self.scaler.scale(batch["loss"]).backward()
        except torch.OutOfMemoryError as error:
            reason = f"out of memory ({str(error).splitlines()[0]})"
        else:
            reason = None
        if reason is not None:  # outside `except`: its traceback no longer holds tensors
            del batch
            if self.pipeline.device.type == "cuda":
                torch.cuda.empty_cache()
            return self._skip_step("oom", f"batch {ids} of audio {shape}: {reason}", buffers)
        self.scaler.unscale_(self.optimizer)
        max_norm = self.grad_clip_norm if self.grad_clip_norm else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        loss, norm = torch.stack([batch["loss"].detach().float(), grad_norm.float()]).tolist()
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self.scaler.update()  # fp16: the scale backs off, as GradScaler does on overflow
            detail = f"batch {ids} of audio {shape}: loss {loss}, gradient norm {norm}"
            return self._skip_step("nonfinite", detail, buffers)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        self.after_optimizer_step()
        self.bad_steps_in_row = 0
        batch["grad_norm"] = norm
        return self.pipeline.decode(batch, self.train_decoders)

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
        self.model.eval()
        logs = {}
        for partition, loader in self.eval_loaders.items():
            name = f"{partition}_{label}" if label else partition
            tracker = MetricTracker()
            first_batch = None
            batches = self.stop.until_stopped(loader)
            for batch in tqdm(batches, desc=f"{name} {self.epoch}", total=len(loader), leave=False):
                if not self._has_items(batch):
                    continue
                batch = self.pipeline.forward(batch)
                batch.update(self.criterion(**batch))
                batch = self.pipeline.decode(batch, self.eval_decoders)
                self._track(tracker, batch, self.metrics["eval"], len(batch["id"]))
                first_batch = first_batch or batch
            self.writer.set_step(self.step, name)
            self.writer.add_scalars(tracker.result())
            if first_batch is not None:
                self._log_examples(first_batch)
            logs.update({f"{name}_{key}": value for key, value in tracker.result().items()})
        self.model.train()
        return logs

    def state_dict(self, epoch_done: bool = False) -> dict[str, Any]:
        return {
            **super().state_dict(epoch_done),
            "train_batches": self.train_batches.state_dict(),
            "epoch_metrics": {} if epoch_done else self.epoch_tracker.state_dict(),
            "skipped_steps": dict(self.skipped_steps),
            "bad_steps_in_row": self.bad_steps_in_row,
            "skipped_audio": dict(self.skipped_audio),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.train_batches.load_state_dict(state["train_batches"])
        self.epoch_tracker.load_state_dict(state["epoch_metrics"])
        self.skipped_steps.update(state["skipped_steps"])
        self.bad_steps_in_row = state["bad_steps_in_row"]
        self.skipped_audio.update(state["skipped_audio"])

    @staticmethod
    def _track(tracker: MetricTracker, batch: Batch, metrics: list, batch_size: int) -> None:
        tracker.update("loss", batch["loss"].item() * batch_size, batch_size)
        for metric in metrics:
            tracker.update(metric.name, *metric(**batch))

    def _log_examples(self, batch: Batch) -> None:
        """A spectrogram, a few audio clips and a predictions table for the current step."""
        count = min(self.log_examples, len(batch["id"]))
        if count == 0:
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
        SpecAugment."""
        features = self.pipeline.features
        for index in range(min(self.log_augmentations, len(batch["id"]))):
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
