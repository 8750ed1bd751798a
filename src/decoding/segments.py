"""Long recordings for decoders that need the whole sequence: cut it at long runs of blanks.

A beam search over an hour of frames would hold an hour of frames and beams; cut where the
model is silent (a run of frames whose most likely token is the blank), each segment decodes
on its own and memory stays bounded by `max_frames`. For argmax decoding a cut inside a blank
run changes nothing where the pause is between words (the model spells a space in it): a blank
already separates what comes before it from what comes after. A pause of `min_blank_frames`
inside a word (rare: 300 ms at a 30 ms stride) would split that word in two.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """`log_probs` (T, C) of the frames `start` .. `start + T` of the whole sequence."""

    start: int
    log_probs: np.ndarray


def _blank_runs(is_blank: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], is_blank.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


class BlankSegmenter:
    """Cuts a stream of (t, C) log-probability blocks into `Segment`s.

    A segment is cut at the middle of the first run of at least `min_blank_frames` blank
    frames that ends after `min_frames`; one that reaches `max_frames` without such a run is
    cut at the middle of its longest blank run (or its most blank-probable frame).
    """

    def __init__(
        self,
        blank: int = 0,
        min_blank_frames: int = 10,
        min_frames: int = 300,
        max_frames: int = 2000,
    ) -> None:
        if not (min_blank_frames > 0 and 0 < min_frames < max_frames):
            raise ValueError("need 0 < min_blank_frames and 0 < min_frames < max_frames")
        self.blank = blank
        self.min_blank_frames = min_blank_frames
        self.min_frames = min_frames
        self.max_frames = max_frames

    def _cut(self, frames: np.ndarray) -> int | None:
        """Where to cut `frames` (an index in 1..len-1), or None to wait for more."""
        is_blank = frames.argmax(axis=-1) == self.blank
        runs = _blank_runs(is_blank)
        for start, end in runs:
            if end - start >= self.min_blank_frames and end > self.min_frames and end < len(frames):
                return (start + end) // 2 or 1
        if len(frames) < self.max_frames:
            return None
        inner = [(start, end) for start, end in runs if start > 0 and end < len(frames)]
        if inner:
            start, end = max(inner, key=lambda run: run[1] - run[0])
            return (start + end) // 2
        return int(frames[1:-1, self.blank].argmax()) + 1

    def split(self, blocks: Iterable[np.ndarray]) -> Iterator[Segment]:
        pending = None
        start = 0
        for block in blocks:
            pending = block if pending is None else np.concatenate([pending, block])
            while pending is not None and (cut := self._cut(pending)) is not None:
                yield Segment(start, pending[:cut])
                start += cut
                pending = pending[cut:]
        if pending is not None and len(pending):
            yield Segment(start, pending)
