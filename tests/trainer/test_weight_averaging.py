"""A run with a moving average of its weights, kept epoch checkpoints, their average, a
wall-clock budget: what each writes and what inference reads back."""

import pytest
import torch

from src.average import main as average_main
from src.trainer.budget import TIMED_STEPS, WARM_UP_STEPS
from src.trainer.restore import load_trained_model
from src.trainer.setup import build_trainer
from src.utils.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import infer_a_tone
from tests.interrupts import tone_corpus
from tests.tiny_model import tiny_run_config


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    return tone_corpus(tmp_path_factory.mktemp("tones"))


def run(manifests, tmp_path, *overrides):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, *overrides))
    logs = trainer.train()
    trainer.writer.finish()
    return trainer, logs


def test_the_moving_average_is_validated_saved_and_read_by_inference(manifests, tmp_path):
    _, logs = run(manifests, tmp_path, "trainer.ema_decay=0.5", "trainer.n_epochs=2")
    assert {"val_ema_loss", "val_ema_WER_(Argmax)"} <= set(logs)
    last = load_checkpoint(tmp_path / "run" / "last.pth")
    assert set(last["ema"]) == set(last["model"])
    changed = [
        name
        for name, value in last["ema"].items()
        if value.is_floating_point() and not torch.equal(value, last["model"][name])
    ]
    assert changed  # an average lags behind the weights it follows
    ema = load_trained_model(tmp_path / "run" / "last.pth", weights="ema")
    own = load_trained_model(tmp_path / "run" / "last.pth")
    assert all(torch.equal(ema.model.state_dict()[n], v) for n, v in last["ema"].items())
    assert not all(torch.equal(own.model.state_dict()[n], v) for n, v in last["ema"].items())
    plain = save_checkpoint({k: v for k, v in last.items() if k != "ema"}, tmp_path / "p.pth")
    with pytest.raises(KeyError, match="no moving average"):
        load_trained_model(plain, weights="ema")


def test_a_run_from_pretrained_weights_averages_from_them(manifests, tmp_path):
    run(manifests, tmp_path / "first", "trainer.n_epochs=2")
    pretrained = load_checkpoint(tmp_path / "first" / "run" / "last.pth")["model"]
    trainer = build_trainer(
        tiny_run_config(
            manifests,
            tmp_path / "second",
            "trainer.ema_decay=0.999",
            f"trainer.from_pretrained={tmp_path / 'first' / 'run' / 'last.pth'}",
        )
    )
    average = trainer.ema.state_dict()
    assert all(
        torch.equal(average[name].to(value.dtype), value) for name, value in pretrained.items()
    )
    trainer.writer.finish()


def test_kept_epochs_are_the_last_and_the_best_and_average_into_a_checkpoint(manifests, tmp_path):
    trainer, _ = run(
        manifests, tmp_path, "trainer.keep_epochs=2", "trainer.n_epochs=4", "trainer.epoch_len=2"
    )
    run_dir = tmp_path / "run"
    kept = sorted(int(path.stem.split("_")[1]) for path in run_dir.glob("epoch_*.pth"))
    scores = trainer.kept_epochs
    best = sorted(scores, key=scores.__getitem__)[:2]
    assert set(kept) == {3, 4} | set(best) == set(scores)
    assert average_main([str(run_dir), "--last", "-k", "2"]) == 0
    averaged = load_checkpoint(run_dir / "averaged.pth")
    states = [load_checkpoint(run_dir / f"epoch_{epoch}.pth")["model"] for epoch in (3, 4)]
    for name, value in averaged["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (states[0][name] + states[1][name]) / 2)
    result = infer_a_tone(run_dir / "averaged.pth", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "test" / "a.txt").is_file()


def test_a_budget_measures_its_steps_even_where_the_configured_run_is_shorter(manifests, tmp_path):
    trainer, _ = run(manifests, tmp_path, "trainer.max_minutes=0.05", "trainer.epoch_len=3")
    assert trainer.step >= WARM_UP_STEPS + TIMED_STEPS
    assert trainer.lr_scheduler.total_steps == trainer.step


def test_a_budget_fits_the_epochs_to_the_measured_step_rate(manifests, tmp_path):
    """However fast the machine, the run takes the fitted steps and its schedule fits them."""
    trainer, _ = run(
        manifests,
        tmp_path,
        "trainer.max_minutes=0.1",
        "trainer.n_epochs=2",
        "trainer.epoch_len=1000",
    )
    assert trainer.budget_fitted and WARM_UP_STEPS + TIMED_STEPS <= trainer.step < 2000
    assert trainer.lr_scheduler.total_steps == trainer.step == trainer.schedule_steps
    last = load_checkpoint(tmp_path / "run" / "last.pth")
    assert last["epoch_len"] == trainer.epoch_len and last["budget_fitted"]
    assert last["schedule_steps"] == trainer.step and last["budget_spent"] > 0
    resumed = build_trainer(
        tiny_run_config(manifests, tmp_path, f"trainer.resume_from={tmp_path / 'run' / 'last.pth'}")
    )
    assert resumed.lr_scheduler.total_steps == trainer.step == resumed.lr_scheduler.last_epoch
    assert resumed.budget_spent == last["budget_spent"]
    resumed.writer.finish()
