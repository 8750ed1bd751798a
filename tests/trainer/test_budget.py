"""The wall-clock budget's plans, on a clock the test moves."""

import pytest

from src.trainer.budget import EVAL_COST, SAFETY, TIMED_STEPS, WARM_UP_STEPS, TimeBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def first_plan(budget: TimeBudget, clock: Clock, per_step: float) -> int:
    """Steps of `per_step` seconds until the budget returns its first plan."""
    for step in range(1, WARM_UP_STEPS + TIMED_STEPS + 1):
        clock.now += per_step
        epoch_len = budget.epoch_len(step, default=1000)
        if step < WARM_UP_STEPS + TIMED_STEPS:
            assert epoch_len is None
    return epoch_len


def test_the_first_plan_fills_the_budget_at_the_timed_rate():
    clock = Clock()
    budget = TimeBudget(minutes=10, n_epochs=4, eval_batches=20, clock=clock)
    budget.start()
    epoch_len = first_plan(budget, clock, per_step=0.5)
    steps = WARM_UP_STEPS + TIMED_STEPS
    left = SAFETY * 600 - steps * 0.5 - 4 * 20 * EVAL_COST * 0.5
    assert epoch_len == int((steps + left / 0.5) // 4)


def test_a_refit_corrects_a_first_plan_made_on_slow_steps():
    """First steps 10x slower than the rest (kernel set-up, a busy core): the refit after
    the first epoch plans the remaining epochs from that epoch's real rate and validation."""
    clock = Clock()
    budget = TimeBudget(minutes=10, n_epochs=3, eval_batches=10, clock=clock)
    budget.start()
    epoch_len = first_plan(budget, clock, per_step=1.0)
    clock.now += (epoch_len - WARM_UP_STEPS - TIMED_STEPS) * 0.1 + 3.0  # the rest, validation
    refit = budget.refit(epochs_left=2, per_step=0.1, evaluation=3.0, current=epoch_len)
    assert refit > 5 * epoch_len
    total = clock.now + 2 * (refit * 0.1 + 3.0)
    assert SAFETY * 600 - 0.2 <= total <= SAFETY * 600


def test_an_interrupted_run_keeps_what_it_had_spent():
    clock = Clock()
    budget = TimeBudget(minutes=1, n_epochs=2, eval_batches=0, clock=clock)
    budget.start(already_spent=50.0)
    assert budget.refit(epochs_left=1, per_step=0.5, evaluation=0.0, current=10) == int(
        (SAFETY * 60 - 50) / 0.5
    )
    clock.now += 30  # over budget: one step per epoch, never zero
    assert budget.refit(epochs_left=1, per_step=0.5, evaluation=0.0, current=10) == 1


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="max_minutes must be positive"):
        TimeBudget(minutes=0, n_epochs=1, eval_batches=0)
