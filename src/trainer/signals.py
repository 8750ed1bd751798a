"""Stopping a training run at a safe point on SIGINT (Ctrl-C) or SIGTERM (what a cluster sends
before pre-empting a job)."""

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import TypeVar

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
Item = TypeVar("Item")


class TrainingInterrupted(Exception):
    """Training stopped at a safe point on a signal; `exit_code` is the shell's 128 + signal
    (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequests:
    """Inside `with`, SIGINT and SIGTERM only record a request to stop; the training loop
    calls `check()` at its safe points (between steps, between validation batches), which
    raises `TrainingInterrupted` once one came. A second signal raises `KeyboardInterrupt` at
    once: an abort, with nothing saved. The handlers are installed only in the main thread
    (where Python delivers signals) and the previous ones are restored on exit.

    `agree` (several processes: every rank's received signal -> the one all of them act on)
    makes `check()` a collective: every rank stops at the same check once any rank got a
    signal, and none stops alone. Iterating `until_stopped` then checks only before the first
    item (ranks may hold different numbers of items, e.g. validation shards)."""

    def __init__(self, agree: Callable[[int], int] | None = None) -> None:
        self.received: int | None = None
        self.agree = agree
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        self.received = None
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            raise KeyboardInterrupt(f"second stop signal ({name}): aborting, nothing saved")
        self.received = signum
        logger.warning("%s: stopping at the next safe point (send it again to abort)", name)

    def check(self) -> None:
        signum = self.received or 0
        if self.agree is not None:
            signum = self.agree(signum)
        if signum:
            raise TrainingInterrupted(signum)

    @contextmanager
    def fetching(self) -> Iterator[None]:
        """Around a fetch from DataLoader workers, which end on SIGTERM too: a failure after a
        stop request is that stop (nothing was updated while waiting for the batch). With
        `agree`, it stays an error: one rank must not stop alone."""
        try:
            yield
        except Exception as error:
            if self.received is None or self.agree is not None:
                raise
            raise TrainingInterrupted(self.received) from error

    def until_stopped(self, items: Iterable[Item]) -> Iterator[Item]:
        """`items` with a `check()` before each one is fetched (under `fetching`, as is the
        start of the iteration: a DataLoader's `iter()` waits on its workers too)."""
        self.check()
        with self.fetching():
            iterator = iter(items)
        while True:
            if self.agree is None:
                self.check()
            with self.fetching():
                item = next(iterator, StopIteration)
            if item is StopIteration:
                return
            yield item
