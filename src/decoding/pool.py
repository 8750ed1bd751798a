"""Worker processes that decode with a forked copy of one decoder, for as long as the run lasts.

The pool is forked once (on the first call that needs it), so every worker inherits the
decoder as it is then, its loaded language model included: nothing is reloaded or pickled but
the log-probabilities going out and the hypotheses coming back. Workers ignore SIGINT, so a
Ctrl-C (sent to the whole process group by a terminal) reaches only the main process, which
stops the workers and re-raises; `close()` (also at interpreter exit) stops them otherwise.
"""

import atexit
import itertools
import multiprocessing
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from src.decoding.base import CTCDecoder, Hypothesis

CHUNKS_PER_WORKER = 4  # smaller tasks balance utterances of unequal length across workers

_decoder: "CTCDecoder | None" = None  # the copy a worker decodes with


def _start_worker(decoder: "CTCDecoder") -> None:
    global _decoder
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _decoder = decoder


def _decode_chunk(task: tuple[list[np.ndarray], int]) -> list[list["Hypothesis"]]:
    chunk, n_best = task
    return _decoder.decode_here(chunk, n_best)


def chunk_bounds(n_items: int, n_chunks: int) -> list[tuple[int, int]]:
    """`n_chunks` (at most `n_items`) contiguous, nearly equal ranges covering `n_items`."""
    n_chunks = max(1, min(n_chunks, n_items))
    edges = np.linspace(0, n_items, n_chunks + 1).round().astype(int).tolist()
    return list(itertools.pairwise(edges))


class DecodePool:
    """`processes` fork-context workers decoding with `decoder.decode_here`."""

    def __init__(self, decoder: "CTCDecoder", processes: int) -> None:
        self.processes = processes
        context = multiprocessing.get_context("fork")
        self._pool: Any = context.Pool(processes, initializer=_start_worker, initargs=(decoder,))
        atexit.register(self.close)

    def decode(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list["Hypothesis"]]:
        tasks = [
            ([np.asarray(frames, dtype=np.float32) for frames in log_probs[start:end]], n_best)
            for start, end in chunk_bounds(len(log_probs), CHUNKS_PER_WORKER * self.processes)
        ]
        results = self._pool.map(_decode_chunk, tasks)
        return [hypotheses for chunk in results for hypotheses in chunk]

    def close(self) -> None:
        """Stop the workers (idle ones hold nothing worth finishing) and wait for them."""
        atexit.unregister(self.close)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()
            pool.join()
