"""The forward half shared by training and inference: device, features, model, decoders."""

from typing import Any

import torch
from torch import nn

from src.trainer.distributed import unwrap
from src.utils.runtime import autocast, seeded

Batch = dict[str, Any]


def move_to_device(batch: Batch, device: torch.device) -> Batch:
    non_blocking = device.type == "cuda"
    return {
        key: value.to(device, non_blocking=non_blocking) if torch.is_tensor(value) else value
        for key, value in batch.items()
    }


class BatchPipeline:
    """collate output -> device [-> batch wave augmentations when training] -> features (fp32)
    [-> spectrogram augmentations when training] -> model (under autocast) -> hypotheses. The
    augmentations draw from torch's generators seeded with the `seed` given (the trainer
    derives it from the run seed and the step), so what they do depends on nothing else, and
    the global generators are left as they were."""

    def __init__(
        self,
        model: nn.Module,
        features: nn.Module,
        device: torch.device,
        amp: str = "off",
        decoders: dict[str, Any] | None = None,
        spec_augs: list[nn.Module] | None = None,
        batch_augs: list[nn.Module] | None = None,
    ) -> None:
        self.model = model.to(device)
        self.features = features.to(device)
        self.device = device
        self.amp = amp
        self.decoders = decoders or {}
        self.spec_augs = [augmentation.to(device) for augmentation in spec_augs or []]
        self.batch_augs = [augmentation.to(device) for augmentation in batch_augs or []]

    def forward(self, batch: Batch, train: bool = False, seed: int = 0) -> Batch:
        batch = move_to_device(batch, self.device)
        if train and (self.batch_augs or self.spec_augs):
            with seeded(seed, self.device):
                for augmentation in self.batch_augs:
                    batch.update(augmentation(**batch))
                batch.update(self.features(**batch))
                for augmentation in self.spec_augs:
                    batch.update(augmentation(**batch))
        else:
            batch.update(self.features(**batch))
        model = self.model if train else unwrap(self.model)  # DDP's wrapper: training only
        with autocast(self.device, self.amp):
            batch.update(model(**batch))
        return batch

    def decode(self, batch: Batch, names: list[str] | None = None, n_best: int = 1) -> Batch:
        """Adds `hypotheses` ({decoder name: list of `Hypothesis`, text and scores}),
        `predictions` ({decoder name: list of texts}) and, when `n_best` > 1, `n_best`
        ({decoder name: per utterance its up to `n_best` hypotheses, best first})."""
        names = list(self.decoders) if names is None else names
        log_probs = batch["log_probs"].detach().float().cpu()
        lengths = batch["log_probs_length"].cpu()
        decoded = {
            name: self.decoders[name].decode_batch(log_probs, lengths, n_best) for name in names
        }
        batch["hypotheses"] = {
            name: [hypotheses[0] for hypotheses in per_utterance]
            for name, per_utterance in decoded.items()
        }
        batch["predictions"] = {
            name: [hypothesis.text for hypothesis in hypotheses]
            for name, hypotheses in batch["hypotheses"].items()
        }
        if n_best > 1:
            batch["n_best"] = decoded
        return batch

    def close(self) -> None:
        """Stop the decoders' worker processes."""
        for decoder in self.decoders.values():
            decoder.close()
