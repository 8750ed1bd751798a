"""Resuming is exact: real `train.py` runs (every augmentation on, one loader worker, fp32, one
thread) are killed or signalled, resumed, and end with every tensor of their `last.pth`
bit-identical to an uninterrupted run's. About 90 s here (14 runs of ~6 s, mostly start-up);
`python -m bench.reliability --only SIGKILL` kills one run 20 times."""

import random

import pytest

from tests.interrupts import (
    CHAIN_EPOCH_LEN,
    KillChain,
    differing,
    final_tensors,
    interrupted_and_resumed,
    run_overrides,
    tone_corpus,
    train,
)

pytestmark = pytest.mark.slow
EPOCHS, EPOCH_LEN = 3, 4  # run_overrides: 12 steps, last.pth after steps 4, 8, 12
CHOICE = random.Random()  # the random steps; each failure message names the one drawn


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tone_corpus(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """Every tensor of the uninterrupted run's final `last.pth`."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = train(run_overrides(corpus, run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return final_tensors(run_dir)


def test_the_reference_holds_weights_optimizer_state_and_generators(reference):
    names = set(reference)
    assert {"model.head.1.weight", "rng.torch"} <= names
    assert any(name.startswith("optimizer.state.") for name in names)


def test_a_last_pth_written_before_a_sigkill(corpus, reference, tmp_path):
    step = CHOICE.randint(EPOCH_LEN + 1, 2 * EPOCH_LEN + 1)  # after epoch 1's last.pth
    faults = ["--signal", "KILL", "--at-step", str(step)]
    run = interrupted_and_resumed(corpus, tmp_path / "run", faults, "last.pth")
    assert run.exit_code == -9, f"step {step}: {run.log}"
    assert run.saved["step"] == EPOCH_LEN * ((step - 1) // EPOCH_LEN)
    assert differing(reference, run.final) == [], f"step {step}"


@pytest.mark.parametrize(
    ("name", "exit_code", "steps"),
    [
        ("INT", 130, range(1, EPOCHS * EPOCH_LEN + 1)),
        ("TERM", 143, range(2 * EPOCH_LEN, EPOCHS * EPOCH_LEN + 1, EPOCH_LEN)),
    ],
)
def test_interrupted_pth_after_a_stop_signal_at_a_random_step(
    corpus, reference, tmp_path, name, exit_code, steps
):
    """The signal reaches the whole process group as the step begins: the step completes,
    then the run saves and exits with 128 + the signal. SIGTERM strikes the last step of epoch
    2 or 3: the validation loader's persistent worker is gone (workers end on SIGTERM) when the
    validation would start, and waiting on it fails: that is the stop, not a crash."""
    step = CHOICE.choice(steps)
    faults = ["--signal", name, "--at-step", str(step)]
    run = interrupted_and_resumed(corpus, tmp_path / "run", faults, "interrupted.pth")
    assert run.exit_code == exit_code, f"step {step}: {run.log}"
    assert run.saved["step"] == step, f"step {step}"
    assert differing(reference, run.final) == [], f"step {step}"


def test_interrupted_pth_after_a_sigint_during_validation(corpus, reference, tmp_path):
    """Ctrl-C at the second of three validation batches: saved as of the end of the epoch's
    training steps, so the resume runs that validation again."""
    epoch = CHOICE.randint(1, EPOCHS)
    faults = ["--signal", "INT", "--at-validation", f"{epoch}:2"]
    run = interrupted_and_resumed(corpus, tmp_path / "run", faults, "interrupted.pth")
    assert run.exit_code == 130, f"epoch {epoch}: {run.log}"
    saved = run.saved["epoch"], run.saved["step"], run.saved["step_in_epoch"]
    assert saved == (epoch, epoch * EPOCH_LEN, EPOCH_LEN)
    assert differing(reference, run.final) == [], f"epoch {epoch}"


def test_sigkills_in_training_and_in_saves_lose_nothing(tmp_path):
    """Two SIGKILLs, one inside a checkpoint save: each leaves a whole last.pth, the restart
    removes the temporary, and the run ends bit-identical to one never killed."""
    chain = KillChain(tmp_path, epochs=6)
    in_save, in_training = chain.kill("saving"), chain.kill("training")
    assert in_save.killed and in_save.in_save and in_save.unreadable == []
    assert in_training.killed and in_training.unreadable == []
    assert in_training.previous_left == 1 and in_training.previous_removed
    assert in_training.step >= in_save.step >= CHAIN_EPOCH_LEN
    assert differing(chain.uninterrupted(), chain.finish()) == []
