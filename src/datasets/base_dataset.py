"""The dataset every corpus builds on: an index of utterances read into batch-ready items."""

import logging
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import soundfile as sf
import torch
from torch.utils.data import Dataset

from src.datasets.compact_index import CompactIndex
from src.datasets.samplers import ItemKey
from src.text_encoder import TextEncoder
from src.utils.audio import AudioReadError, load_audio

logger = logging.getLogger(__name__)

# id, path, text, duration (None: read from the file's header)[, location: "file:line"]
IndexEntry = dict[str, Any]
MAX_ID_BYTES = 200  # `<id>.txt` and `<id>.flac` stay within the usual 255-byte file name limit
OutputLength = Callable[[torch.Tensor], torch.Tensor]  # audio samples (N,) -> model frames (N,)


def ctc_min_frames(label: Sequence) -> int:
    """Output frames CTC needs for a label: one per token, plus a blank between repeats."""
    return len(label) + sum(a == b for a, b in pairwise(label))


def header_duration(path: str | Path) -> float:
    """Duration in seconds from the file's header (no decoding); errors name the file."""
    try:
        return sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioReadError(f"{path}: cannot read audio ({error})") from error


def index_duration(path: str | Path) -> float | None:
    """`header_duration` for a corpus index, or None when the file cannot be read: the dataset
    then skips the utterance with a warning naming the file (training) or fails naming it."""
    try:
        return header_duration(path)
    except AudioReadError:
        return None


def validate_utterance_id(utterance_id: Any, location: str) -> str:
    """`utterance_id` if it can name an output file on its own (`<id>.txt`), else a
    `ValueError` naming `location`: a non-empty string with no path separator (`/`, `\\`), no
    leading dot (so neither `.` nor `..`), no control character (NUL included), at most
    `MAX_ID_BYTES` bytes of UTF-8."""
    problem = None
    if not isinstance(utterance_id, str):
        problem = f"is not a string but {type(utterance_id).__name__}"
    elif not utterance_id:
        problem = "is empty"
    elif "/" in utterance_id or "\\" in utterance_id:
        problem = "holds a path separator"
    elif utterance_id.startswith("."):
        problem = "starts with a dot"
    elif any(unicodedata.category(char) == "Cc" for char in utterance_id):
        problem = "holds a control character"
    elif len(utterance_id.encode("utf-8")) > MAX_ID_BYTES:
        problem = f"is longer than {MAX_ID_BYTES} bytes"
    if problem is not None:
        raise ValueError(
            f"{location}: utterance id {utterance_id!r} {problem}; ids name output files "
            "(<id>.txt), so they must be plain file names"
        )
    return utterance_id


def entry_location(entry: IndexEntry) -> str:
    """Where an entry comes from: its `file:line`, else its audio file."""
    return str(entry.get("location") or entry["path"])


def check_utterance_ids(index: Iterable[IndexEntry]) -> None:
    """Every id is valid (`validate_utterance_id`) and unique: two utterances of one partition
    would write the same `<id>.txt`. Errors name the entries' locations."""
    seen: dict[str, str] = {}
    for entry in index:
        location = entry_location(entry)
        utterance_id = validate_utterance_id(entry.get("id"), location)
        if utterance_id in seen:
            raise ValueError(
                f"utterance id {utterance_id!r} appears twice, at {seen[utterance_id]} and "
                f"{location}; each utterance writes <id>.txt, so ids must be unique"
            )
        seen[utterance_id] = location


class BaseDataset(Dataset):
    """Serves items `audio`, `audio_length`, `text`, `text_encoded`, `id`, `audio_path`.

    `index` entries hold `id`, `path`, `text` (ignored when `has_transcriptions` is false;
    otherwise a missing one is an error naming the utterance) and `duration` in seconds (None:
    read from the file). Texts are normalised once, here, so each character outside the
    vocabulary is reported once. Filters drop utterances, counted per reason in `dropped` and
    logged: `min_duration`, `max_duration`, `max_text_length` (normalised characters) and
    `output_length` (audio samples -> model output frames: drops labels CTC cannot align, as it
    needs frames >= label length + adjacent repeats; samples are estimated as duration x rate).
    An unscored dataset keeps every utterance: filters on it are an error. Then `limit` keeps a
    random (seeded) subset.
    `wave_augs` (training only) transform each waveform in turn, drawing from the generator of
    the item's `ItemKey` (seed, pass, index), which training samplers hand out; a plain position
    counts as pass 0 of seed 0.
    `concat_probability` (training only): with this probability an item is its utterance
    followed by other random ones (drawn from the same generator) while the total stays within
    `concat_max_seconds`, their transcripts joined by a space: what a window of a long
    recording holds (`src.transcription.chunked`), so a model trained on utterances also
    learns to read several in a row.

    Unreadable or empty audio raises `AudioReadError` naming the file, unless `skip_bad_audio`
    (training): the item is then `{"id", "audio_path", "skipped": reason}`, which `collate_fn`
    leaves out of the batch and lists in `batch["skipped"]`.
    """

    def __init__(
        self,
        index: list[IndexEntry],
        text_encoder: TextEncoder,
        sample_rate: int = 16000,
        limit: int | None = None,
        max_duration: float | None = None,
        seed: int = 0,
        has_transcriptions: bool = True,
        wave_augs: Sequence[Callable[[torch.Tensor, random.Random], torch.Tensor]] = (),
        min_duration: float | None = None,
        max_text_length: int | None = None,
        output_length: OutputLength | None = None,
        skip_bad_audio: bool = False,
        concat_probability: float = 0.0,
        concat_max_seconds: float = 15.0,
    ) -> None:
        if not 0 <= concat_probability <= 1 or concat_max_seconds <= 0:
            raise ValueError("need 0 <= concat_probability <= 1 and concat_max_seconds > 0")
        if concat_probability and not has_transcriptions:
            raise ValueError("concat_probability joins transcripts; this dataset has none")
        self.concat_probability = concat_probability
        self.concat_max_seconds = concat_max_seconds
        self.text_encoder = text_encoder
        self.wave_augs = list(wave_augs)
        self.sample_rate = sample_rate
        self.has_transcriptions = has_transcriptions
        self.skip_bad_audio = skip_bad_audio
        self.dropped: Counter[str] = Counter()
        filters = {
            "min_duration": min_duration,
            "max_duration": max_duration,
            "max_text_length": max_text_length,
            "output_length": output_length,
        }
        if not has_transcriptions and any(value is not None for value in filters.values()):
            chosen = sorted(name for name, value in filters.items() if value is not None)
            raise ValueError(f"an unscored dataset keeps every utterance; remove {chosen}")
        index = self._filter(self._prepare(index), **filters)
        if self.dropped:
            reasons = ", ".join(f"{count} {reason}" for reason, count in self.dropped.items())
            logger.info(
                "%s: kept %d utterances, dropped %s", type(self).__name__, len(index), reasons
            )
        if limit is not None and limit < len(index):
            index = random.Random(seed).sample(index, limit)
        self._index = CompactIndex(index)  # shared by loader workers, not copied into them

    def _prepare(self, index: list[IndexEntry]) -> list[IndexEntry]:
        """Copies of the entries with normalised `text` and a known `duration`; ids checked."""
        check_utterance_ids(index)
        prepared = []
        for entry in index:
            text = entry.get("text")
            if not self.has_transcriptions:
                text = ""
            elif not isinstance(text, str):
                raise ValueError(f"utterance {entry['id']} ({entry['path']}) has no transcript")
            duration = entry.get("duration")
            if duration is None:
                try:
                    duration = header_duration(entry["path"])
                except AudioReadError as error:
                    if not self.skip_bad_audio:
                        raise
                    logger.warning("skipping utterance %s: %s", entry["id"], error)
                    self.dropped["with unreadable audio"] += 1
                    continue
            text = self.text_encoder.normalize(text)
            prepared.append({**entry, "text": text, "duration": duration})
        return prepared

    def _filter(
        self,
        index: list[IndexEntry],
        min_duration: float | None,
        max_duration: float | None,
        max_text_length: int | None,
        output_length: OutputLength | None,
    ) -> list[IndexEntry]:
        """The entries every filter accepts; each rejection is counted under its first reason."""
        frames = None
        if output_length is not None:
            samples = [round(entry["duration"] * self.sample_rate) for entry in index]
            frames = output_length(torch.tensor(samples, dtype=torch.long)).tolist()
        kept = []
        for position, entry in enumerate(index):
            duration, text = entry["duration"], entry["text"]
            if min_duration is not None and duration < min_duration:
                reason = f"shorter than {min_duration:g} s"
            elif max_duration is not None and duration > max_duration:
                reason = f"longer than {max_duration:g} s"
            elif max_text_length is not None and len(text) > max_text_length:
                reason = f"with transcripts over {max_text_length} characters"
            elif frames is not None and frames[position] < ctc_min_frames(
                self.text_encoder.encode(text).tolist()  # tokens, e.g. subwords
            ):
                reason = "with transcripts too long for the model's output frames (CTC)"
            else:
                kept.append(entry)
                continue
            self.dropped[reason] += 1
        return kept

    @classmethod
    def pending_downloads(cls, **config: Any) -> list[str]:
        """What building this dataset with `config` would download first (names for a
        message); corpora that are fetched on first use override it."""
        return []

    def __len__(self) -> int:
        return len(self._index)

    def durations(self) -> list[float]:
        return self._index.numbers("duration").tolist() if len(self._index) else []

    def texts(self) -> list[str]:
        """The normalised transcripts of the kept utterances."""
        return [entry["text"] for entry in self._index]

    def _load(self, entry: IndexEntry) -> torch.Tensor:
        audio = load_audio(entry["path"], self.sample_rate)
        if audio.numel() == 0:
            raise AudioReadError(f"{entry['path']}: empty audio (no samples)")
        return audio

    def _followers(self, entry: IndexEntry, rng: random.Random) -> list[IndexEntry]:
        """The utterances appended to `entry`'s (none unless `concat_probability` draws so)."""
        if not self.concat_probability or rng.random() >= self.concat_probability:
            return []
        followers, total = [], entry["duration"]
        while True:
            follower = self._index[rng.randrange(len(self._index))]
            total += follower["duration"]
            if total > self.concat_max_seconds:
                return followers
            followers.append(follower)

    def __getitem__(self, key: int | ItemKey) -> dict[str, Any]:
        key = key if isinstance(key, ItemKey) else ItemKey(key)
        entry = self._index[key.index]
        rng = key.rng()
        entries = [entry, *self._followers(entry, rng)]
        try:
            audio = torch.cat([self._load(item) for item in entries])
        except AudioReadError as error:
            if not self.skip_bad_audio:
                raise
            return {"id": entry["id"], "audio_path": str(entry["path"]), "skipped": str(error)}
        for augmentation in self.wave_augs:
            audio = augmentation(audio, rng)
        text = " ".join(item["text"] for item in entries if item["text"])
        return {
            "id": entry["id"],
            "audio_path": str(entry["path"]),
            "audio": audio,
            "audio_length": audio.shape[0],
            "text": text,
            "text_encoded": self.text_encoder.encode(text),
        }


def collate_fn(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pads `audio` and `text_encoded` into batch tensors with their lengths.

    Skipped items (unreadable audio) are left out and listed in `skipped` as
    {"id", "audio_path", "reason"}; when every item was skipped the batch holds only `id` ([])
    and `skipped`.
    """
    skipped = [
        {"id": item["id"], "audio_path": item["audio_path"], "reason": item["skipped"]}
        for item in items
        if "skipped" in item
    ]
    items = [item for item in items if "skipped" not in item]
    if not items:
        return {"id": [], "skipped": skipped}
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
        "skipped": skipped,
    }
