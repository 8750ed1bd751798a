"""Training under torchrun: real `train.py` runs of 2 CPU processes (gloo) of the tiny model on
12 tones of 0.5 s (one duration: batches without padding, so the union of two batches is a
batch), fp32, one thread per process, no SpecAugment (its masks are drawn per rank). About a
minute here (8 runs of ~7 s)."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from src.trainer.restore import load_trained_model
from src.trainer.setup import build_trainer
from src.utils.checkpoint import load_checkpoint
from tests.conftest import FIXED_LENGTH, REPO_ROOT, compose_config
from tests.interrupts import TIMEOUT, differing, final_tensors, tone_corpus
from tests.tiny_model import TINY_MODEL

pytestmark = pytest.mark.slow
STEPS = 4  # 2 epochs of 2 steps
# the DDP run of most tests: synced batch norm, a moving average, kept epochs
DDP = ("trainer.sync_batch_norm=true", "trainer.ema_decay=0.9", "trainer.keep_epochs=1")


def overrides(
    manifest: Path, run_dir: Path, *extra: str, model: tuple[str, ...] = tuple(TINY_MODEL)
) -> list[str]:
    """train.py's overrides (after `-cn=deepspeech2_cpu`): 2 epochs of 2 steps, batches of 3."""
    return [
        *FIXED_LENGTH,
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        *model,
        "transforms=logmel",  # no speed perturbation, no SpecAugment
        "dataloader=random",
        "dataloader.batch_size=3",
        "dataloader.num_workers=0",
        "writer=cometml",
        "trainer.n_epochs=2",
        "trainer.epoch_len=2",
        "trainer.log_step=1",
        "trainer.amp=off",
        "trainer.num_threads=1",
        "trainer.dist_timeout_s=20",
        f"trainer.save_dir={run_dir.parent}",
        f"trainer.run_name={run_dir.name}",
        *extra,
    ]


def run(arguments: list[str], *faults: str, processes: int = 1) -> subprocess.CompletedProcess:
    """`train.py` (through `tests.interrupts`, with `faults`) in one process, or under
    torchrun in `processes`."""
    launcher = [sys.executable]
    if processes > 1:  # torchrun's argument parser drops the first `--` after the module
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        faults = ("--", *faults)
    return subprocess.run(
        [*launcher, "-m", "tests.interrupts", *faults, "--", "-cn=deepspeech2_cpu", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def trained(run_dir: Path, arguments: list[str], processes: int = 1) -> dict[str, torch.Tensor]:
    """Every tensor of the final `last.pth` of the run into `run_dir`."""
    result = run(arguments, processes=processes)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return final_tensors(run_dir)


def weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value for name, value in tensors.items() if name.startswith("model.")}


def epoch_logs(run_dir: Path, epoch: int) -> dict[str, float]:
    """The `epoch: N  key: value ...` line of rank 0's train.log."""
    for line in (run_dir / "train.log").read_text().splitlines():
        if f" - epoch: {epoch}  " in line:
            pairs = re.findall(r"(\S+): (\S+)", line.split(" - ", 1)[1])
            return {key: float(value) for key, value in pairs}
    raise AssertionError(f"no epoch {epoch} in {run_dir / 'train.log'}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tone_corpus(tmp_path_factory.mktemp("tones"), seconds=0.5)


@pytest.fixture(scope="module")
def ddp_run(corpus, tmp_path_factory) -> Path:
    """Two ranks of batches of 3, `DDP`'s settings: the run folder."""
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    result = run(overrides(corpus, run_dir, *DDP), processes=2)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return run_dir


def assert_close_weights(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert set(weights(got)) == set(weights(expected))
    for name, value in weights(expected).items():
        if value.is_floating_point():
            torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_two_ranks_train_like_one_process_on_the_union_of_their_batches(corpus, ddp_run, tmp_path):
    """Rank r takes global batches r, r+2, ...: each step's two batches of 3 are the one
    process's batch of 6. Synced batch norm: its statistics (and running buffers) too."""
    single = tmp_path / "single"
    expected = trained(single, overrides(corpus, single, "dataloader.batch_size=6"))
    got = final_tensors(ddp_run)
    assert load_checkpoint(ddp_run / "last.pth")["step"] == STEPS
    assert_close_weights(got, expected)
    assert "model.head.0.running_mean" in got
    assert len(load_checkpoint(ddp_run / "last.pth")["ranks"]) == 2
    written = {path.name for path in ddp_run.iterdir()} - {"epoch_1.pth"}  # if the best
    assert written == {".hydra", "comet", "last.pth", "model_best.pth", "train.log", "epoch_2.pth"}
    assert "ema.head.1.weight" in got
    assert "rank 1" not in (ddp_run / "train.log").read_text()


def test_gradient_accumulation_on_two_ranks_equals_one_batch_of_all(corpus, tmp_path):
    """2 ranks x 2 micro-batches of 3 = one process's batches of 12 (a model without batch
    norm: micro-batches cannot share statistics)."""
    baseline = ("model=baseline", "model.hidden=16")
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    distributed = overrides(corpus, ddp, "trainer.grad_accum_steps=2", model=baseline)
    whole = overrides(corpus, single, "dataloader.batch_size=12", model=baseline)
    assert_close_weights(trained(ddp, distributed, processes=2), trained(single, whole))


def test_sharded_validation_gives_the_error_rates_of_one_process(corpus, ddp_run):
    """Rank 0's last validation (each rank half the utterances, totals summed) equals a
    single process validating the same weights, loaded from the DDP checkpoint by
    inference's loader."""
    last = ddp_run / "last.pth"
    model = load_trained_model(last).model
    state = load_checkpoint(last)["model"]
    assert all(torch.equal(model.state_dict()[name], state[name]) for name in state)
    arguments = overrides(corpus, ddp_run.parent / "single", f"trainer.from_pretrained={last}")
    trainer = build_trainer(compose_config("deepspeech2_cpu", *arguments))
    try:
        single = trainer.evaluate()
    finally:
        trainer.writer.finish()
    logged = epoch_logs(ddp_run, 2)
    for key in ("val_loss", "val_WER_(Argmax)", "val_CER_(Argmax)"):
        assert logged[key] == pytest.approx(single[key], rel=1e-3), key


def test_a_ddp_run_resumes_exactly_after_a_stop_on_one_rank(corpus, ddp_run, tmp_path):
    """SIGINT reaches rank 0 alone as step 3 begins: both ranks stop after it (agreed),
    `interrupted.pth` holds both ranks' data positions and generators; resumed under torchrun,
    the run ends bit-identical to the uninterrupted one."""
    run_dir = tmp_path / "run"
    arguments = overrides(corpus, run_dir, *DDP)
    first = run(arguments, "--signal", "INT", "--at-step", "3", "--rank", "0", processes=2)
    assert first.returncode != 0
    saved = load_checkpoint(run_dir / "interrupted.pth")
    assert saved["step"] == 3
    assert [state["train_batches"] for state in saved["ranks"]] == [{"pass": 1, "position": 1}] * 2
    resume = f"trainer.resume_from={run_dir / 'interrupted.pth'}"
    resumed = trained(run_dir, [*arguments, resume], processes=2)
    assert differing(final_tensors(ddp_run), resumed) == []


@pytest.mark.parametrize(("fault", "rank"), [("raise", 1), ("hang", 1)])
def test_a_failing_rank_ends_every_rank_with_an_error_naming_it(corpus, tmp_path, fault, rank):
    """Rank 1 raises at step 2, or hangs there: the other rank, waiting in the gradient
    all-reduce, fails when its peer is gone or after trainer.dist_timeout_s (20 s); torchrun
    exits non-zero and no rank is left running."""
    arguments = overrides(corpus, tmp_path / "run", "trainer.dist_timeout_s=10")
    start = time.monotonic()
    result = run(arguments, "--fail", fault, "--at-step", "2", "--rank", str(rank), processes=2)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0
    failed = 1 if fault == "raise" else 0  # a hanging rank is ended; its peer times out
    assert f"rank {failed} of 2 failed" in output, output[-3000:]
    assert elapsed < 60


def test_a_time_budget_sizes_every_ranks_epochs_alike(corpus, tmp_path):
    """trainer.max_minutes: rank 0's measured epoch length goes to both ranks (different
    lengths would leave one rank waiting for the other's steps)."""
    run_dir = tmp_path / "run"
    budget = ["trainer.max_minutes=0.1", "trainer.n_epochs=1", "trainer.epoch_len=100"]
    result = run(overrides(corpus, run_dir, *budget), processes=2)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    saved = load_checkpoint(run_dir / "last.pth")
    assert saved["budget_fitted"] and saved["step"] == saved["epoch_len"] >= 30
