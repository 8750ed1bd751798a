"""A training run fitted to a wall-clock budget (`trainer.max_minutes`): after a few steps the
trainer knows how fast this machine runs them, and sizes the epochs so the run, validations
included, ends within the budget."""

import logging
import math
import time

logger = logging.getLogger(__name__)

WARM_UP_STEPS = 5  # not timed: allocator, oneDNN/cuDNN kernel choices
TIMED_STEPS = 25
EVAL_COST = 0.5  # an evaluation batch as a fraction of a training step (forward only, decoding)
SAFETY = 0.97  # of the budget planned, for the saves, the writer, the last validation's tail


class TimeBudget:
    """Plans `n_epochs` epochs into `minutes` of wall clock from the moment `start()` is
    called, from the rate of training steps `WARM_UP_STEPS`..`WARM_UP_STEPS + TIMED_STEPS`
    (all in the first epoch) and `eval_batches` evaluation batches per epoch. A budget too
    short for even that many steps per epoch gets `WARM_UP_STEPS + TIMED_STEPS` per epoch."""

    def __init__(self, minutes: float, n_epochs: int, eval_batches: int) -> None:
        if minutes <= 0:
            raise ValueError(f"trainer.max_minutes must be positive, got {minutes}")
        self.seconds = 60.0 * minutes
        self.n_epochs = n_epochs
        self.eval_batches = eval_batches
        self.started = self.timed_from = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def epoch_len(self, steps_done: int, default: int) -> int | None:
        """Called after every step: the epoch length that fits the budget, once the timed steps
        are done (None before, and after)."""
        if steps_done == WARM_UP_STEPS:
            self.timed_from = time.perf_counter()
        if steps_done != WARM_UP_STEPS + TIMED_STEPS or self.timed_from is None:
            return None
        now = time.perf_counter()
        per_step = (now - self.timed_from) / TIMED_STEPS
        evaluations = self.n_epochs * self.eval_batches * EVAL_COST * per_step
        left = SAFETY * self.seconds - (now - self.started) - evaluations
        total = steps_done + max(0, math.floor(left / per_step))
        # the measuring happens in the first epoch, which cannot be shorter than its steps so far
        epoch_len = max(total // self.n_epochs, steps_done)
        logger.info(
            "trainer.max_minutes=%g: %.3f s per step measured over %d steps, %d evaluation "
            "batches per epoch -> %d epochs of %d steps (was %d)",
            self.seconds / 60,
            per_step,
            TIMED_STEPS,
            self.eval_batches,
            self.n_epochs,
            epoch_len,
            default,
        )
        return epoch_len
