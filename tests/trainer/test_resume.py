"""Resuming is exact: real `train.py` runs (every augmentation on, one loader worker, fp32, one
thread) are killed or signalled, resumed, and end with every tensor of their `last.pth`
bit-identical to an uninterrupted run's. About 70 s here (9 runs of ~7 s, mostly start-up)."""

import random

import pytest
import torch

from src.utils.checkpoint import load_checkpoint
from tests.interrupts import differing, run_overrides, tone_corpus, train

pytestmark = pytest.mark.slow
EPOCHS, EPOCH_LEN = 3, 4  # run_overrides: 12 steps, last.pth after steps 4, 8, 12
CHOICE = random.Random()  # the random steps; each failure message names the one drawn


def tensors(checkpoint, prefix: str = "") -> dict:
    """Every tensor of a checkpoint (weights, optimizer moments, generator states...), by
    dotted name."""
    if isinstance(checkpoint, torch.Tensor):
        return {prefix: checkpoint}
    if not isinstance(checkpoint, dict | list | tuple):
        return {}
    items = checkpoint.items() if isinstance(checkpoint, dict) else enumerate(checkpoint)
    found = {}
    for key, value in items:
        found.update(tensors(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tone_corpus(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """Every tensor of the uninterrupted run's final `last.pth`."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = train(run_overrides(corpus, run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return tensors(load_checkpoint(run_dir / "last.pth"))


def resumed_from(corpus, run_dir, checkpoint: str) -> dict:
    result = train(run_overrides(corpus, run_dir, f"trainer.resume_from={run_dir / checkpoint}"))
    assert result.returncode == 0, result.stderr[-3000:]
    return tensors(load_checkpoint(run_dir / "last.pth"))


def test_the_reference_holds_weights_optimizer_state_and_generators(reference):
    names = set(reference)
    assert {"model.head.1.weight", "rng.torch"} <= names
    assert any(name.startswith("optimizer.state.") for name in names)


def test_a_last_pth_written_before_a_sigkill(corpus, reference, tmp_path):
    step = CHOICE.randint(EPOCH_LEN + 1, 2 * EPOCH_LEN + 1)  # after epoch 1's last.pth
    run_dir = tmp_path / "run"
    killed = train(run_overrides(corpus, run_dir), "--signal", "KILL", "--at-step", str(step))
    assert killed.returncode == -9, f"step {step}: {killed.stderr[-2000:]}"
    assert load_checkpoint(run_dir / "last.pth")["step"] == EPOCH_LEN * ((step - 1) // EPOCH_LEN)
    assert differing(reference, resumed_from(corpus, run_dir, "last.pth")) == [], f"step {step}"


@pytest.mark.parametrize(("name", "exit_code"), [("INT", 130), ("TERM", 143)])
def test_interrupted_pth_after_a_stop_signal_at_a_random_step(
    corpus, reference, tmp_path, name, exit_code
):
    """The signal reaches the whole process group (the loader worker too) as the step begins:
    the step completes, then the run saves and exits with 128 + the signal."""
    step = CHOICE.randint(1, EPOCHS * EPOCH_LEN)
    run_dir = tmp_path / "run"
    stopped = train(run_overrides(corpus, run_dir), "--signal", name, "--at-step", str(step))
    assert stopped.returncode == exit_code, f"step {step}: {stopped.stderr[-2000:]}"
    state = load_checkpoint(run_dir / "interrupted.pth")
    assert state["step"] == step, f"step {step}"
    assert differing(reference, resumed_from(corpus, run_dir, "interrupted.pth")) == [], step


def test_interrupted_pth_after_a_sigint_during_validation(corpus, reference, tmp_path):
    """Ctrl-C at the second of three validation batches: saved as of the end of the epoch's
    training steps, so the resume runs that validation again."""
    epoch = CHOICE.randint(1, EPOCHS)
    run_dir = tmp_path / "run"
    stopped = train(
        run_overrides(corpus, run_dir), "--signal", "INT", "--at-validation", f"{epoch}:2"
    )
    assert stopped.returncode == 130, f"epoch {epoch}: {stopped.stderr[-2000:]}"
    state = load_checkpoint(run_dir / "interrupted.pth")
    assert (state["epoch"], state["step"], state["step_in_epoch"]) == (
        epoch,
        epoch * EPOCH_LEN,
        EPOCH_LEN,
    )
    assert differing(reference, resumed_from(corpus, run_dir, "interrupted.pth")) == [], epoch
