"""A checkpoint and a decoder turned into transcripts with word timings, for files of any
length: chunked model windows (`chunked.py`), segments cut at long blank runs for the decoder
(`src.decoding.segments`), word times from CTC forced alignment (`src.decoding.timestamps`)."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from src.datasets.base_dataset import header_duration
from src.decoding import CTCDecoder
from src.decoding.segments import BlankSegmenter, Segment
from src.decoding.timestamps import WordTiming, align_words
from src.text_encoder import CTCCharTextEncoder
from src.trainer.pipeline import BatchPipeline
from src.trainer.restore import TrainedModel
from src.transcription.chunked import (
    MIN_CHUNK_SECONDS,
    PAUSE_SECONDS,
    ChunkedLogProbs,
    Window,
)
from src.utils.audio import AudioReadError, read_audio_blocks

PROGRESS_SECONDS = 60.0  # files at least this long get a progress bar


@dataclass
class Transcript:
    """The text of one recording, its words with times (s) and confidences, its duration."""

    text: str
    words: list[WordTiming] = field(default_factory=list)
    duration: float = 0.0
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"file": self.source} if self.source is not None else {}
        record |= {
            "duration": round(self.duration, 3),
            "text": self.text,
            "words": [word.to_dict() for word in self.words],
        }
        return record


def decode_segments(
    segments: Iterable[Segment],
    decoder: CTCDecoder,
    text_encoder: CTCCharTextEncoder,
    frame_seconds: float,
) -> tuple[str, list[WordTiming]]:
    """Each segment decoded on its own and its words aligned; the texts joined."""
    texts, words = [], []
    for segment in segments:
        text = decoder.decode_utterances([segment.log_probs])[0].text
        offset = segment.start * frame_seconds
        words += align_words(segment.log_probs, text, text_encoder, frame_seconds, offset)
        texts.append(text)
    return " ".join(" ".join(texts).split()), words


def clip_to(words: list[WordTiming], duration: float) -> list[WordTiming]:
    """Word ends past the audio's end (the last frame reaches beyond it) moved to the end."""
    return [replace(word, end=min(word.end, duration)) for word in words]


class Transcriber:
    """Audio -> `Transcript` with one decoder.

    Args:
        trained: the checkpoint's model, features and text encoder (`load_trained_model`).
        decoder: any `CTCDecoder` (argmax, beam search, LM).
        chunk_seconds, context_seconds, pause_seconds, min_chunk_seconds: where windows are
            cut (`ChunkedLogProbs`).
        segmenter: where the decoder's input is cut (default `BlankSegmenter()`).
    """

    def __init__(
        self,
        trained: TrainedModel,
        decoder: CTCDecoder,
        device: torch.device | str = "cpu",
        amp: str = "off",
        chunk_seconds: float = 20.0,
        context_seconds: float = 2.0,
        pause_seconds: float = PAUSE_SECONDS,
        min_chunk_seconds: float = MIN_CHUNK_SECONDS,
        segmenter: BlankSegmenter | None = None,
    ) -> None:
        self.trained = trained
        self.decoder = decoder
        pipeline = BatchPipeline(trained.model, trained.features, torch.device(device), amp)
        self.log_probs = ChunkedLogProbs(
            pipeline, chunk_seconds, context_seconds, pause_seconds, min_chunk_seconds
        )
        self.sample_rate = trained.features.sample_rate
        self.frame_seconds = self.log_probs.stride / self.sample_rate
        self.segmenter = segmenter or BlankSegmenter(blank=trained.text_encoder.blank_index)

    def transcribe_blocks(
        self, blocks: Iterable[torch.Tensor], progress: tqdm | None = None
    ) -> Transcript:
        """Transcribe a recording given as consecutive mono blocks at the model's rate (no
        blocks: an empty transcript of duration 0)."""
        samples = 0

        def counted() -> Iterable[torch.Tensor]:
            nonlocal samples
            for block in blocks:
                samples += len(block)
                if progress is not None:
                    progress.update(len(block) / self.sample_rate)
                yield block

        segments = self.segments(self.log_probs(counted()))
        encoder = self.trained.text_encoder
        text, words = decode_segments(segments, self.decoder, encoder, self.frame_seconds)
        duration = samples / self.sample_rate
        return Transcript(text, clip_to(words, duration), duration)

    def segments(self, windows: Iterable[Window]) -> Iterator[Segment]:
        """The decoders' input: cut at every pause between windows (a word boundary), and
        within a longer stretch by the blank-run segmenter (bounded memory)."""
        pending: list[np.ndarray] = []
        start = 0
        for window in windows:
            pending.append(window.log_probs)
            if window.at_pause:
                for segment in self.segmenter.split(pending):
                    yield Segment(start + segment.start, segment.log_probs)
                start += sum(len(frames) for frames in pending)
                pending = []
        for segment in self.segmenter.split(pending):
            yield Segment(start + segment.start, segment.log_probs)

    def transcribe_file(self, path: str | Path, show_progress: bool = False) -> Transcript:
        """One file of any length, format, rate and channel count `load_audio` reads."""
        path = Path(path)
        try:
            total = header_duration(path)
        except AudioReadError:
            total = None  # FFmpeg formats: no header reader; the bar counts seconds done
        show_progress = show_progress and (total is None or total >= PROGRESS_SECONDS)
        blocks = read_audio_blocks(path, self.sample_rate)
        with tqdm(
            total=None if total is None else round(total, 1),
            desc=path.name,
            unit="s",
            disable=not show_progress,
            leave=False,
        ) as progress:
            transcript = self.transcribe_blocks(blocks, progress)
        if transcript.duration == 0:
            raise AudioReadError(f"{path}: the file holds no audio samples")
        transcript.source = str(path)
        return transcript
