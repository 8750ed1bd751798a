"""Recordings of any length through the model in bounded memory: windows cut at pauses, or
overlapping where there is none, whose log-probability frames are merged at frame level.

The audio arrives in blocks (`src.utils.audio.read_audio_blocks`) and is cut into windows of
at most `chunk_seconds`, each run through the features and the model on its own:

- at a pause (at least `pause_seconds` of frames `quiet_db` below the loudest so far) once a
  window is `min_chunk_seconds` long, the window ends in the pause's middle. The defaults
  (0.15 s, 1 s) give a model trained on single utterances one utterance per window; one
  fine-tuned on utterances in a row (`datasets.train.concat_probability`) reads longer windows
  well, and speech with pauses inside its sentences (AN4's spelled letters) needs them
  (docs/transcribe.md, `bench/long_audio.py`);
- where `chunk_seconds` pass without a pause, at the quietest frame of the window's second half,
  and the windows on both sides of that cut also see `context_seconds` of audio beyond it;
  only their own frames are kept.

Cuts are multiples of the frame stride, so frame `j` of a window starting at sample `a` is
frame `a / stride + j` of the recording, and the frames tile the whole recording's exactly.
Memory is that of one window (plus context), whatever the recording's length.
"""

import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
import torch

from src.model import CTCModel
from src.trainer.pipeline import BatchPipeline
from src.transforms.features import LogFeatures

PAUSE_SECONDS = 0.15  # the shortest pause a window ends in
MIN_CHUNK_SECONDS = 1.0  # the shortest window that ends at a pause
_SPAN = 720_720  # divisible by every stride up to 16: exact output frames per input frame


def frame_stride(model: CTCModel, features: LogFeatures) -> int:
    """Audio samples per output frame: the features' hop times the model's time stride, read
    from `model.output_lengths` (a model whose stride is not a whole number is an error)."""
    lengths = model.output_lengths(torch.tensor([_SPAN, 2 * _SPAN]))
    frames = int(lengths[1] - lengths[0])
    if frames <= 0 or _SPAN % frames:
        raise ValueError(f"{type(model).__name__} has no whole-number time stride")
    return features.hop_length * (_SPAN // frames)


class Window(NamedTuple):
    """One window's log-probabilities (t, C); `at_pause`: it ends in a pause (a word boundary
    for the decoders), not at a forced cut or the recording's end."""

    log_probs: np.ndarray
    at_pause: bool


class ChunkedLogProbs:
    """`(audio blocks) -> Window`s, in order; their frames tile the recording's."""

    def __init__(
        self,
        pipeline: BatchPipeline,
        chunk_seconds: float = 20.0,
        context_seconds: float = 2.0,
        pause_seconds: float = PAUSE_SECONDS,
        min_chunk_seconds: float = MIN_CHUNK_SECONDS,
        quiet_db: float = 40.0,
    ) -> None:
        if not 0 <= min_chunk_seconds < chunk_seconds or context_seconds < 0:
            raise ValueError(
                f"need 0 <= min_chunk_seconds ({min_chunk_seconds}) < chunk_seconds "
                f"({chunk_seconds}) and context_seconds ({context_seconds}) >= 0"
            )
        self.pipeline = pipeline
        self.stride = frame_stride(pipeline.model, pipeline.features)
        rate = pipeline.features.sample_rate

        def frames(seconds: float) -> int:
            return round(seconds * rate / self.stride)

        self.chunk = max(2, frames(chunk_seconds)) * self.stride
        self.context = frames(context_seconds) * self.stride
        self.min_chunk = frames(min_chunk_seconds) * self.stride
        self.pause_frames = frames(pause_seconds)  # 0: no pause cuts, fixed windows
        self.quiet_db = quiet_db
        self.loudest = -math.inf  # dB of the loudest frame so far

    @torch.no_grad()
    def _window(self, audio: torch.Tensor, keep_from: int, keep_to: int | None) -> np.ndarray:
        batch = {"audio": audio.unsqueeze(0), "audio_length": torch.tensor([len(audio)])}
        batch = self.pipeline.forward(batch)
        frames = batch["log_probs"][0, : int(batch["log_probs_length"][0])]
        end = None if keep_to is None else keep_to // self.stride
        return frames[keep_from // self.stride : end].float().cpu().numpy()

    def _energies(self, audio: torch.Tensor) -> np.ndarray:
        """dB per stride-long frame of `audio` (whole frames only)."""
        frames = audio[: len(audio) // self.stride * self.stride].reshape(-1, self.stride)
        return 10 * np.log10(frames.double().pow(2).mean(-1).numpy() + 1e-12)

    def _cut(self, audio: torch.Tensor) -> tuple[int, bool] | None:
        """Where the window starting at `audio[0]` ends (samples) and whether that is a forced
        cut needing context; None: wait for more audio."""
        energies = self._energies(audio)
        if len(energies):
            self.loudest = max(self.loudest, float(energies.max()))
        if self.pause_frames:
            quiet = np.concatenate([energies < self.loudest - self.quiet_db, [False]])
            edges = np.flatnonzero(np.diff(np.concatenate([[False], quiet]).astype(np.int8)))
            for first, last in zip(edges[::2], edges[1::2], strict=True):
                middle = (first + last) // 2 * self.stride
                closed = last < len(energies)  # a pause reaching the end may go on
                if closed and last - first >= self.pause_frames and middle >= self.min_chunk:
                    if middle <= self.chunk:
                        return middle, False
                    break
        if len(audio) >= self.chunk + self.context:
            half = energies[self.chunk // self.stride // 2 : self.chunk // self.stride]
            return (self.chunk // self.stride // 2 + int(half.argmin())) * self.stride, True
        return None

    def __call__(self, blocks: Iterable[torch.Tensor]) -> Iterator[Window]:
        self.loudest = -math.inf
        buffer = torch.zeros(0)
        offset = 0  # sample index of buffer[0] in the recording, a multiple of the stride
        start = 0  # first sample of the next window
        left = 0  # context before it (when it starts at a forced cut)
        for block in blocks:
            buffer = torch.cat([buffer, block.float()])
            while (cut := self._cut(buffer[start - offset :])) is not None:
                length, forced = cut
                right = self.context if forced else 0
                audio = buffer[start - left - offset : start + length + right - offset]
                yield Window(self._window(audio, left, left + length), not forced)
                start += length
                left = self.context if forced else 0
                buffer, offset = buffer[start - left - offset :], start - left
        if offset + len(buffer) > start:
            yield Window(self._window(buffer[start - left - offset :], left, None), False)
