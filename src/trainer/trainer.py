"""Training with validation every epoch, AMP, gradient clipping and experiment logging."""

import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from src.metrics import MetricTracker, utterance_error_rates
from src.trainer.base_trainer import BaseTrainer
from src.trainer.config import TrainerConfig
from src.trainer.pipeline import Batch, BatchPipeline
from src.utils.audio import load_audio

logger = logging.getLogger(__name__)


def endless(loader: DataLoader) -> Iterator[Batch]:
    """Cycle through a DataLoader forever (a new shuffle each pass)."""
    while True:
        yield from loader


class Trainer(BaseTrainer):
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
        self.train_batches = endless(self.train_loader)
        self.skipped_audio: dict[str, str] = {}  # unreadable audio files met so far -> why

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        tracker = MetricTracker()
        epoch_tracker = MetricTracker()
        progress = tqdm(
            range(self.step_in_epoch, self.epoch_len),
            desc=f"train {self.epoch}/{self.n_epochs}",
            initial=self.step_in_epoch,
            total=self.epoch_len,
        )
        for _ in progress:
            batch = self.train_step(self._next_train_batch())
            self.step += 1
            self.step_in_epoch += 1
            for tracker_ in (tracker, epoch_tracker):
                self._track(tracker_, batch, self.metrics["train"], len(batch["id"]))
                tracker_.update("grad_norm", batch["grad_norm"])
            progress.set_postfix(loss=f"{batch['loss'].item():.3f}")
            if self.step % self.log_step == 0:
                self.writer.set_step(self.step, "train")
                self.writer.add_scalars(tracker.result())
                self.writer.add_scalar("learning_rate", self.optimizer.param_groups[0]["lr"])
                tracker.reset()
        self.writer.set_step(self.step, "train")
        self._log_examples(batch)
        self._log_augmentations(batch)
        self.writer.add_scalar("skipped_audio_files", len(self.skipped_audio))
        logs = {f"train_{key}": value for key, value in epoch_tracker.result().items()}
        return {**logs, "skipped_audio_files": len(self.skipped_audio)}

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

    def train_step(self, batch: Batch) -> Batch:
        self.optimizer.zero_grad(set_to_none=True)
        batch = self.pipeline.forward(batch, train=True)
        batch.update(self.criterion(**batch))
        self.scaler.scale(batch["loss"]).backward()
        self.scaler.unscale_(self.optimizer)
        max_norm = self.grad_clip_norm if self.grad_clip_norm else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        batch["grad_norm"] = grad_norm.item()
        return self.pipeline.decode(batch, self.train_decoders)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        logs = {}
        for name, loader in self.eval_loaders.items():
            tracker = MetricTracker()
            first_batch = None
            for batch in tqdm(loader, desc=f"{name} {self.epoch}", leave=False):
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
