"""A training run fitted to a wall-clock budget (`trainer.max_minutes`): after a few steps the
trainer knows roughly how fast this machine runs them and sizes the epochs; after every epoch
it sizes the remaining ones again from the last epoch's measured step rate and validation
time, so the run, validations included, ends within the budget even when the first steps
were slow (kernel set-up for new shapes, another job on the cores) or the machine speeds up
or slows down later."""

import logging
import math
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

WARM_UP_STEPS = 5  # not timed: allocator, oneDNN/cuDNN kernel choices
TIMED_STEPS = 25
EVAL_COST = 0.5  # an evaluation batch as a fraction of a training step, before one is timed
SAFETY = 0.97  # of the budget planned, for the saves, the writer, the last validation's tail


class TimeBudget:
    """Plans `n_epochs` epochs into `minutes` of wall clock counted from `start()` (plus the
    seconds an interrupted run had already spent). The first plan comes from the rate of this
    sitting's training steps `WARM_UP_STEPS`..`WARM_UP_STEPS + TIMED_STEPS` (all in the first
    epoch) and `eval_batches` evaluation batches per epoch at `EVAL_COST` of a step; each
    `refit` replaces both guesses by what the last epoch measured."""

    def __init__(
        self,
        minutes: float,
        n_epochs: int,
        eval_batches: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if minutes <= 0:
            raise ValueError(f"trainer.max_minutes must be positive, got {minutes}")
        self.seconds = 60.0 * minutes
        self.n_epochs = n_epochs
        self.eval_batches = eval_batches
        self.started = self.timed_from = None
        self.steps = 0  # steps taken since `start()`
        self.clock = clock

    def start(self, already_spent: float = 0.0) -> None:
        self.started = self.clock() - already_spent

    def elapsed(self) -> float:
        return self.clock() - self.started

    def epoch_len(self, steps_done: int, default: int) -> int | None:
        """Called after every step until it returns: the epoch length of the first plan, once
        this sitting's timed steps are done (None before). `steps_done`: the run's steps so
        far, all in its first epoch."""
        self.steps += 1
        if self.steps == WARM_UP_STEPS:
            self.timed_from = self.clock()
        if self.steps < WARM_UP_STEPS + TIMED_STEPS:
            return None
        per_step = (self.clock() - self.timed_from) / TIMED_STEPS
        evaluation = self.eval_batches * EVAL_COST * per_step
        # the first epoch cannot be shorter than its steps so far
        epoch_len = max(self._plan(self.n_epochs, per_step, evaluation, steps_done), steps_done)
        self._log("first plan", per_step, evaluation, self.n_epochs, epoch_len, default)
        return epoch_len

    def refit(self, epochs_left: int, per_step: float, evaluation: float, current: int) -> int:
        """After an epoch and its validation: the length of each of the `epochs_left` epochs,
        from that epoch's seconds per step and validation seconds."""
        epoch_len = self._plan(epochs_left, per_step, evaluation)
        self._log("refit", per_step, evaluation, epochs_left, epoch_len, current)
        return epoch_len

    def _plan(self, epochs: int, per_step: float, evaluation: float, steps_in: int = 0) -> int:
        """Steps per epoch so that `epochs` epochs, `steps_in` of whose steps are already
        taken, and their validations (`evaluation` seconds each) fit in what is left."""
        left = SAFETY * self.seconds - self.elapsed() - epochs * evaluation
        return max(1, math.floor((steps_in + max(0.0, left / per_step)) / epochs))

    def _log(
        self, what: str, per_step: float, evaluation: float, epochs: int, length: int, was: int
    ) -> None:
        logger.info(
            "trainer.max_minutes=%g, %s after %.0f s: %.3f s per step, %.1f s per validation "
            "-> %d more epoch(s) of %d steps (was %d)",
            self.seconds / 60,
            what,
            self.elapsed(),
            per_step,
            evaluation,
            epochs,
            length,
            was,
        )
