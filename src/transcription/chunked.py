"""Recordings of any length through the model in bounded memory: overlapping windows whose
log-probability frames are merged at frame level.

The audio arrives in blocks (`src.utils.audio.read_audio_blocks`). Every `chunk_seconds` of it
(the window's centre) runs through the features and the model together with `context_seconds`
before and after it; only the centre's frames are kept, so each frame the decoder sees was
computed with at least `context_seconds` of audio on both sides (at the recording's ends, the
ends themselves). Window starts are multiples of the frame stride, so frame `j` of a window
starting at sample `a` is frame `a / stride + j` of the whole recording, and the frame count is
the whole recording's. Memory is that of one window, whatever the recording's length.
"""

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from src.model import CTCModel
from src.trainer.pipeline import BatchPipeline
from src.transforms.features import LogFeatures

_SPAN = 720_720  # divisible by every stride up to 16: exact output frames per input frame


def frame_stride(model: CTCModel, features: LogFeatures) -> int:
    """Audio samples per output frame: the features' hop times the model's time stride, read
    from `model.output_lengths` (a model whose stride is not a whole number is an error)."""
    lengths = model.output_lengths(torch.tensor([_SPAN, 2 * _SPAN]))
    frames = int(lengths[1] - lengths[0])
    if frames <= 0 or _SPAN % frames:
        raise ValueError(f"{type(model).__name__} has no whole-number time stride")
    return features.hop_length * (_SPAN // frames)


class ChunkedLogProbs:
    """`(audio blocks) -> (t, C) log-probability blocks`, one per window, in order."""

    def __init__(
        self, pipeline: BatchPipeline, chunk_seconds: float = 20.0, context_seconds: float = 2.0
    ) -> None:
        if chunk_seconds <= 0 or context_seconds < 0:
            raise ValueError("chunk_seconds must be > 0 and context_seconds >= 0")
        self.pipeline = pipeline
        self.stride = frame_stride(pipeline.model, pipeline.features)
        rate = pipeline.features.sample_rate
        self.chunk = max(1, round(chunk_seconds * rate / self.stride)) * self.stride
        self.context = round(context_seconds * rate / self.stride) * self.stride

    @torch.no_grad()
    def _window(self, audio: torch.Tensor, keep_from: int, keep_to: int | None) -> np.ndarray:
        batch = {"audio": audio.unsqueeze(0), "audio_length": torch.tensor([len(audio)])}
        batch = self.pipeline.forward(batch)
        frames = batch["log_probs"][0, : int(batch["log_probs_length"][0])]
        end = None if keep_to is None else keep_to // self.stride
        return frames[keep_from // self.stride : end].float().cpu().numpy()

    def __call__(self, blocks: Iterable[torch.Tensor]) -> Iterator[np.ndarray]:
        buffer = torch.zeros(0)
        offset = 0  # sample index of buffer[0] in the recording, a multiple of the stride
        centre = 0  # first sample of the next window's centre
        for block in blocks:
            buffer = torch.cat([buffer, block.float()])
            while offset + len(buffer) >= centre + self.chunk + self.context:
                start = max(centre - self.context, 0)
                audio = buffer[start - offset : centre + self.chunk + self.context - offset]
                frames = self._window(audio, centre - start, centre + self.chunk - start)
                yield frames
                centre += self.chunk
                keep = max(centre - self.context, 0)
                buffer, offset = buffer[keep - offset :], keep
        if offset + len(buffer) > 0:
            start = max(centre - self.context, 0)
            yield self._window(buffer[start - offset :], centre - start, None)
