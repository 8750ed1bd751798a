"""The dataset every corpus builds on: an index of utterances read into batch-ready items."""

import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from src.text_encoder import CTCCharTextEncoder
from src.utils.audio import load_audio

logger = logging.getLogger(__name__)

IndexEntry = dict[str, Any]  # id, path, text, duration


class BaseDataset(Dataset):
    """Serves items `audio`, `audio_length`, `text`, `text_encoded`, `id`, `audio_path`.

    `index` entries hold `id`, `path`, `text` (may be empty when there is no transcription)
    and `duration` in seconds. `limit` keeps a random (seeded) subset, `max_duration` drops
    longer utterances, and `sort_by_duration` orders the index for stable inference batches.
    `wave_augs` (training only) transform each waveform in turn.
    """

    def __init__(
        self,
        index: list[IndexEntry],
        text_encoder: CTCCharTextEncoder,
        sample_rate: int = 16000,
        limit: int | None = None,
        max_duration: float | None = None,
        sort_by_duration: bool = False,
        seed: int = 0,
        has_transcriptions: bool = True,
        wave_augs: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        self.text_encoder = text_encoder
        self.wave_augs = list(wave_augs)
        self.sample_rate = sample_rate
        self.has_transcriptions = has_transcriptions
        self._index = self._filter(index, limit, max_duration, sort_by_duration, seed)

    @staticmethod
    def _filter(
        index: list[IndexEntry],
        limit: int | None,
        max_duration: float | None,
        sort_by_duration: bool,
        seed: int,
    ) -> list[IndexEntry]:
        if max_duration is not None:
            kept = [entry for entry in index if entry["duration"] <= max_duration]
            if len(kept) < len(index):
                logger.info(
                    "dropped %d utterances longer than %.1fs", len(index) - len(kept), max_duration
                )
            index = kept
        if limit is not None and limit < len(index):
            index = random.Random(seed).sample(index, limit)
        if sort_by_duration:
            index = sorted(index, key=lambda entry: entry["duration"])
        return index

    def __len__(self) -> int:
        return len(self._index)

    def durations(self) -> list[float]:
        return [entry["duration"] for entry in self._index]

    def __getitem__(self, position: int) -> dict[str, Any]:
        entry = self._index[position]
        audio = load_audio(entry["path"], self.sample_rate)
        for augmentation in self.wave_augs:
            audio = augmentation(audio)
        text = self.text_encoder.normalize(entry.get("text") or "")
        return {
            "id": entry["id"],
            "audio_path": str(entry["path"]),
            "audio": audio,
            "audio_length": audio.shape[0],
            "text": text,
            "text_encoded": self.text_encoder.encode(text),
        }


def collate_fn(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pads `audio` and `text_encoded` into batch tensors with their lengths."""
    audio = torch.nn.utils.rnn.pad_sequence([item["audio"] for item in items], batch_first=True)
    text_encoded = torch.nn.utils.rnn.pad_sequence(
        [item["text_encoded"] for item in items], batch_first=True
    )
    return {
        "audio": audio,
        "audio_length": torch.tensor([item["audio_length"] for item in items]),
        "text_encoded": text_encoded,
        "text_encoded_length": torch.tensor([len(item["text_encoded"]) for item in items]),
        "text": [item["text"] for item in items],
        "id": [item["id"] for item in items],
        "audio_path": [item["audio_path"] for item in items],
    }
