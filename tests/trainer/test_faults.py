"""Faults a training run survives: non-finite steps, fp16 overflows, CUDA out-of-memory errors
(injected on the CPU), a full disk, another run's folder, stale temporaries, old checkpoints."""

import logging

import pytest
import torch

from src.trainer.base_trainer import CheckpointSaveError
from src.trainer.setup import build_trainer
from src.trainer.trainer import TooManyBadSteps
from src.utils.checkpoint import load_checkpoint, save_checkpoint
from src.utils.files import temporary_files
from tests.faults import full_disk, poison_loss, run_out_of_memory, same_state, training_state
from tests.interrupts import tone_corpus
from tests.tiny_model import tiny_run_config


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    return tone_corpus(tmp_path_factory.mktemp("tones"))


def test_a_non_finite_step_is_skipped_counted_and_logged(manifests, tmp_path, caplog):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path))
    trainer.train_step([next(trainer.train_batches)])  # one real step: optimizer state exists
    before = training_state(trainer)
    poison_loss(trainer, calls={1})
    with caplog.at_level(logging.WARNING):
        assert trainer.train_step([next(trainer.train_batches)]) is None
    assert same_state(training_state(trainer), before)
    assert all(parameter.grad is None for parameter in trainer.model.parameters())
    assert trainer.skipped_steps == {"nonfinite": 1, "oom": 0}
    assert "skipped (nonfinite)" in caplog.text and "loss nan" in caplog.text
    trainer.writer.finish()
    run = build_trainer(tiny_run_config(manifests, tmp_path / "whole"))
    poison_loss(run, calls={2})
    logs = run.train()
    run.writer.finish()
    assert run.step == 6 and run.bad_steps_in_row == 0  # 6 steps taken, 1 skipped
    assert logs["train_nonfinite_skipped"] == 1 and logs["train_oom_skipped"] == 0


def test_fp16_an_overflowed_step_leaves_the_schedule_where_it_was(manifests, tmp_path):
    """GradScaler skips the optimizer step on an inf gradient; the LR schedule must not advance
    either, and the scale backs off."""
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.amp=fp16"))
    assert trainer.scaler.is_enabled()
    while trainer.train_step([next(trainer.train_batches)]) is None:
        pass  # the first scales overflow: they are counted as skipped steps too
    skipped = trainer.skipped_steps["nonfinite"]
    before, scale = training_state(trainer), trainer.scaler.get_scale()
    parameter = next(trainer.model.parameters())
    hook = parameter.register_hook(lambda grad: torch.full_like(grad, float("inf")))
    assert trainer.train_step([next(trainer.train_batches)]) is None
    hook.remove()
    assert same_state(training_state(trainer), before)
    assert trainer.scaler.get_scale() == scale / 2
    assert trainer.skipped_steps["nonfinite"] == skipped + 1
    epoch = trainer.lr_scheduler.last_epoch
    assert trainer.train_step([next(trainer.train_batches)]) is not None
    assert trainer.lr_scheduler.last_epoch == epoch + 1
    trainer.writer.finish()


def test_many_bad_steps_in_a_row_stop_the_run_with_a_clear_error(manifests, tmp_path):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.max_bad_steps=3"))
    poison_loss(trainer, calls=set(range(1, 100)), factor=float("inf"))
    with pytest.raises(TooManyBadSteps, match=r"3 training steps in a row were skipped.*lower"):
        trainer.train()
    trainer.writer.finish()
    assert trainer.step == 0 and trainer.skipped_steps["nonfinite"] == 3


def test_out_of_memory_in_a_step_skips_that_batch(manifests, tmp_path, caplog):
    """torch.OutOfMemoryError (what CUDA raises) from the model's forward, injected on the CPU:
    the batch is skipped, named with its shape, counted; training goes on."""
    trainer = build_trainer(tiny_run_config(manifests, tmp_path))
    run_out_of_memory(trainer, calls={2})
    with caplog.at_level(logging.WARNING):
        logs = trainer.train()
    trainer.writer.finish()
    assert trainer.step == 6 and logs["train_oom_skipped"] == 1
    (message,) = [record.message for record in caplog.records if "skipped (oom)" in record.message]
    assert "of audio (4, " in message and "Tried to allocate 2.00 GiB" in message
    assert "batch ['" in message  # the utterance ids


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(manifests, tmp_path):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.monitor=off"))
    match = r"last.pth \(\[Errno 28\].*previous last.pth is intact"
    with full_disk(after_step=3), pytest.raises(CheckpointSaveError, match=match):
        trainer.train()  # epoch 2's last.pth
    trainer.writer.finish()
    run_dir = tmp_path / "run"
    assert load_checkpoint(run_dir / "last.pth")["step"] == 3  # the previous one, whole
    assert temporary_files(run_dir) == []


def test_a_new_run_never_writes_into_another_runs_folder(manifests, tmp_path):
    first = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.n_epochs=1"))
    first.train()
    first.writer.finish()
    last = tmp_path / "run" / "last.pth"
    before = last.read_bytes()
    with pytest.raises(FileExistsError, match=rf"holds checkpoints.*resume_from={last}"):
        build_trainer(tiny_run_config(manifests, tmp_path, "trainer.n_epochs=2"))
    with pytest.raises(FileExistsError, match="another run"):  # resuming some other run here
        build_trainer(
            tiny_run_config(manifests, tmp_path, f"trainer.resume_from={tmp_path / 'b/x.pth'}")
        )
    assert last.read_bytes() == before
    resumed = build_trainer(tiny_run_config(manifests, tmp_path, f"trainer.resume_from={last}"))
    assert resumed.step == 3
    resumed.writer.finish()


def test_temporaries_of_a_killed_save_are_removed_at_start(manifests, tmp_path, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = run_dir / ".last.pth.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    (run_dir / "notes.tmp").write_text("not ours")
    with caplog.at_level(logging.WARNING):
        trainer = build_trainer(tiny_run_config(manifests, tmp_path))
    trainer.writer.finish()
    assert not stale.exists() and (run_dir / "notes.tmp").exists()
    assert f"removed {stale}" in caplog.text


def test_a_checkpoint_without_the_resume_state_is_refused_clearly(manifests, tmp_path):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.n_epochs=1"))
    trainer.train()
    trainer.writer.finish()
    state = load_checkpoint(tmp_path / "run" / "last.pth")
    del state["rng"], state["train_batches"]
    old = save_checkpoint(state, tmp_path / "old" / "old.pth")
    with pytest.raises(ValueError, match=r"lacks \['rng', 'train_batches'\].*from_pretrained"):
        build_trainer(
            tiny_run_config(manifests, tmp_path / "new", f"trainer.resume_from={old}")
        ).writer.finish()
