"""Trainer mechanics on a tiny model and tiny manifests: steps, AMP paths, checkpoints, resume."""

import os
import random
import signal
import sys
from pathlib import Path

import pytest
import torch

from src.trainer.config import TrainerConfig
from src.trainer.setup import build_trainer, check_trainer_settings, typed
from src.trainer.signals import TrainingInterrupted
from src.utils.checkpoint import load_checkpoint
from tests.conftest import REPO_ROOT
from tests.interrupts import tone_corpus
from tests.tiny_model import tiny_run_config


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    return tone_corpus(tmp_path_factory.mktemp("tones"))


def test_train_saves_checkpoints_and_logs(manifests, tmp_path):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path))
    logs = trainer.train()
    trainer.writer.finish()
    assert trainer.step == 6 and trainer.epoch == 3
    assert {"train_loss", "train_grad_norm", "val_loss", "val_WER_(Argmax)"} <= set(logs)
    run_dir = tmp_path / "run"
    last = load_checkpoint(run_dir / "last.pth")
    assert last["step"] == 6 and last["epoch"] == 3
    assert last["vocab"] == trainer.vocab
    assert last["config"]["model"]["rnn_hidden"] == 16
    assert (run_dir / "model_best.pth").is_file()


def test_resume_continues_at_the_same_step_lr_and_optimizer_state(manifests, tmp_path):
    first = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.n_epochs=3"))
    first.n_epochs = 1  # stop after one of three epochs, schedule still sized for three
    first.train()
    first.writer.finish()
    saved = load_checkpoint(tmp_path / "run" / "last.pth")
    resumed = build_trainer(
        tiny_run_config(
            manifests,
            tmp_path,
            "trainer.n_epochs=3",
            "trainer.run_name=resumed",
            f"trainer.resume_from={tmp_path / 'run' / 'last.pth'}",
        )
    )
    assert (resumed.step, resumed.epoch) == (3, 2)
    assert resumed.optimizer.param_groups[0]["lr"] == first.optimizer.param_groups[0]["lr"]
    assert resumed.lr_scheduler.state_dict() == first.lr_scheduler.state_dict()
    exp_avg = next(iter(resumed.optimizer.state.values()))["exp_avg"]
    torch.testing.assert_close(exp_avg, next(iter(saved["optimizer"]["state"].values()))["exp_avg"])
    resumed.train()
    resumed.writer.finish()
    assert resumed.step == 9


def test_a_stop_signal_ends_the_run_after_the_current_step(manifests, tmp_path, monkeypatch):
    """SIGINT arrives in the middle of step 2: the step completes, `interrupted.pth` holds the
    state after it, the handlers are restored and the counters of a resume match."""
    trainer = build_trainer(tiny_run_config(manifests, tmp_path))
    original_step = trainer.train_step

    def step_with_a_signal(batch):
        if trainer.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return original_step(batch)

    monkeypatch.setattr(trainer, "train_step", step_with_a_signal)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as interrupted:
        trainer.train()
    trainer.writer.finish()
    assert interrupted.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is handler
    state = load_checkpoint(tmp_path / "run" / "interrupted.pth")
    assert (state["epoch"], state["step"], state["step_in_epoch"]) == (1, 2, 2)
    assert state["train_batches"] == {"pass": 0, "position": 2}
    assert state["epoch_metrics"]["loss"][1] == 8  # the loss of 2 batches of 4 utterances


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_paths_train_on_cpu(manifests, tmp_path, amp):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, f"trainer.amp={amp}"))
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    trainer.train()
    trainer.writer.finish()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    state = load_checkpoint(tmp_path / "run" / "last.pth")
    if amp == "fp16":
        assert state["scaler"]["scale"] > 0


def test_from_pretrained_loads_weights_only(manifests, tmp_path):
    trainer = build_trainer(tiny_run_config(manifests, tmp_path, "trainer.n_epochs=1"))
    trainer.train()
    trainer.writer.finish()
    checkpoint = tmp_path / "run" / "last.pth"
    fresh = build_trainer(
        tiny_run_config(
            manifests, tmp_path, "trainer.run_name=ft", f"trainer.from_pretrained={checkpoint}"
        )
    )
    assert fresh.step == 0 and fresh.epoch == 1
    for name, value in fresh.model.state_dict().items():
        torch.testing.assert_close(value, trainer.model.state_dict()[name])


@pytest.mark.parametrize(
    ("monitor", "error"),
    [
        ("min val_BLEU", r"no epoch logs 'val_BLEU'.*'val_WER_\(Argmax\)'"),
        ("min val_WER_(BeamSearch)", r"no epoch logs 'val_WER_\(BeamSearch\)'"),
        ("lowest val_loss", "monitor must be 'off' or 'min|max <metric>'"),
    ],
)
def test_a_monitor_naming_nothing_logged_fails_before_training(manifests, tmp_path, monitor, error):
    config = tiny_run_config(manifests, tmp_path, f"trainer.monitor='{monitor}'")
    with pytest.raises(ValueError, match=error):
        build_trainer(config)
    assert not (tmp_path / "run").exists()  # nothing built, nothing written


def test_monitoring_a_training_or_other_partition_key_is_accepted(manifests, tmp_path):
    for monitor in ("min train_loss", "max val_CER_(Argmax)", "off"):
        config = tiny_run_config(manifests, tmp_path, f"trainer.monitor='{monitor}'")
        check_trainer_settings(typed(TrainerConfig, config.trainer), config)


def test_unknown_decoder_name_fails_before_training(manifests, tmp_path):
    config = tiny_run_config(manifests, tmp_path, "trainer.eval_decoders=[Argmax,BeamSearch]")
    with pytest.raises(
        ValueError, match=r"eval_decoders names \['BeamSearch'\].*decoders=beam_search"
    ):
        build_trainer(config)
    assert not (tmp_path / "run").exists()  # no writer started, nothing written


def test_augmentations_are_logged_before_and_after(manifests, tmp_path, monkeypatch):
    """A tiny run with every augmentation and the offline W&B writer: the clean and augmented
    audio and the before / after spectrograms land in the offline run."""
    import numpy as np
    import soundfile as sf
    from PIL import Image

    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "WANDB_RUN_ID", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    probabilities = [
        f"transforms.probabilities.{name}=1.0"
        for name in ("speed", "pitch", "reverb", "noise", "band_pass", "gain")
    ]
    config = tiny_run_config(
        manifests,
        tmp_path,
        "writer=wandb",
        "transforms=logmel_augmented_full",
        *probabilities,
        "trainer.n_epochs=1",
        "trainer.log_augmentations=2",
    )
    trainer = build_trainer(config)
    batch = trainer.pipeline.forward(next(trainer.train_batches), train=True)
    states = random.getstate(), torch.get_rng_state()
    trainer._log_augmentations(batch)  # must not shift the random draws of the training
    assert states[0] == random.getstate() and torch.equal(states[1], torch.get_rng_state())
    trainer.train()
    trainer.writer.finish()

    (run,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    media = run / "files" / "media"
    tones = [sf.read(path, dtype="float32")[0] for path in manifests.parent.glob("*.wav")]
    step = trainer.step  # the epoch-end logs (the call above logged at step 0)
    for index in (0, 1):
        (clean_file,) = media.glob(f"audio/train_clean_audio_{index}_{step}_*.wav")
        (augmented_file,) = media.glob(f"audio/train_audio_{index}_{step}_*.wav")  # model input
        (image_file,) = media.glob(f"images/train_augmentations_{index}_{step}_*.png")
        clean, _ = sf.read(clean_file, dtype="float32")
        augmented, _ = sf.read(augmented_file, dtype="float32")
        assert any(
            len(tone) == len(clean) and np.abs(tone - clean).max() < 1e-3 for tone in tones
        ), "the clean audio is an unaugmented training file"
        assert len(augmented) != len(clean) or np.abs(augmented - clean).max() > 1e-2
        with Image.open(image_file) as image:
            assert image.height > image.width  # three stacked panels (one is 600 x 250)
    assert not list(media.glob("audio/train_clean_audio_2_*.wav"))


def test_early_stopping_ends_the_run_after_epochs_without_improvement(manifests, tmp_path):
    """With a learning rate of 0 the monitored WER never improves after the first epoch."""
    trainer = build_trainer(
        tiny_run_config(
            manifests, tmp_path, "optimizer.lr=0", "trainer.n_epochs=10", "trainer.early_stop=2"
        )
    )
    trainer.train()
    trainer.writer.finish()
    assert trainer.epoch == 4 and trainer.not_improved_count == 2  # epochs 2 and 3 stalled
    last = load_checkpoint(tmp_path / "run" / "last.pth")
    assert (last["epoch"], last["step"]) == (4, 9)
    best = load_checkpoint(tmp_path / "run" / "model_best.pth")
    assert best["epoch"] == 2  # written after epoch 1, the only improvement


def final_weights(manifests, run_dir, *overrides) -> dict[str, torch.Tensor]:
    trainer = build_trainer(
        tiny_run_config(manifests, run_dir, "trainer.num_threads=1", *overrides)
    )
    trainer.train()
    trainer.writer.finish()
    return trainer.model.state_dict()


def test_fp32_runs_with_fixed_threads_are_bit_reproducible(manifests, tmp_path):
    overrides = ["transforms=logmel_augmented"]  # speed perturbation and SpecAugment draws too
    first = final_weights(manifests, tmp_path / "a", *overrides)
    second = final_weights(manifests, tmp_path / "b", *overrides)
    assert all(torch.equal(first[name], second[name]) for name in first)
    other_seed = final_weights(manifests, tmp_path / "c", *overrides, "trainer.seed=2")
    assert not all(torch.equal(first[name], other_seed[name]) for name in first)


def test_a_step_reads_the_host_once_and_train_batches_are_decoded_on_metric_steps_only(
    manifests, tmp_path, monkeypatch
):
    """The loss and the gradient norm stay tensors; the step's one host read is its skip
    decision. Train batches are decoded and scored every `train_metrics_every` steps (default
    `log_step`) and at the epoch's last step, once for both trackers."""
    trainer = build_trainer(
        tiny_run_config(manifests, tmp_path, "trainer.epoch_len=7", "trainer.log_step=3")
    )
    assert trainer.train_metrics_every == 3
    reads = []  # (module, method) of every host read made by the project's own code

    def spy(name):
        real = getattr(torch.Tensor, name)

        def read(self, *args):
            caller = Path(sys._getframe(1).f_code.co_filename)
            if caller.is_relative_to(REPO_ROOT / "src"):
                reads.append((caller.name, name))
            return real(self, *args)

        return read

    batch = next(trainer.train_batches)
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, spy(name))
    step = trainer.train_step([batch])
    assert reads == [("trainer.py", "item")]
    assert step.loss_sum.requires_grad is False and step.grad_norm.dim() == 0
    monkeypatch.undo()
    decoded_at, scored = [], []
    decode = trainer.pipeline.decode
    monkeypatch.setattr(
        trainer.pipeline,
        "decode",
        lambda batch, *args: decoded_at.append(trainer.step) or decode(batch, *args),
    )

    def scoring(metric):
        def score(**batch):
            scored.append(trainer.step)
            return metric(**batch)

        score.name = metric.name
        return score

    metrics = trainer.metrics["train"]
    trainer.metrics["train"] = [scoring(metric) for metric in metrics]
    logs = trainer.train_epoch()
    trainer.writer.finish()
    assert decoded_at == [3, 6, 7]  # after steps 3 and 6, and the epoch's last
    assert scored == [step for step in decoded_at for _ in metrics]  # once per step each
    assert {f"train_{metric.name}" for metric in metrics} <= set(logs)


def test_gradient_accumulation_equals_one_batch_of_all_the_micro_batches(tmp_path):
    """Two micro-batches of 3 per step end with the weights of steps on batches of 6: the same
    utterances (plain shuffled batches: the order cut into 3s or 6s), a model without batch
    norm (its statistics would see each micro-batch alone) and tones of one duration (torch's
    centred STFT reflects the end of a batch's longest utterance, zeros after the others': a
    last frame that depends on the batch)."""
    manifests = tone_corpus(tmp_path / "tones", seconds=0.5)
    baseline = [
        "model=baseline",
        "model.hidden=16",
        "transforms=logmel",  # no speed perturbation: every tone keeps its length
        "dataloader=random",
        "trainer.epoch_len=2",
    ]
    accumulated = build_trainer(
        tiny_run_config(
            manifests,
            tmp_path / "accumulated",
            "dataloader.batch_size=3",
            "trainer.grad_accum_steps=2",
            *baseline,
            model=[],
        )
    )
    whole = build_trainer(
        tiny_run_config(
            manifests, tmp_path / "whole", "dataloader.batch_size=6", *baseline, model=[]
        )
    )
    assert len(accumulated.train_loader.dataset) == 12  # 4 batches of 3 per pass, 2 of 6
    for trainer in (accumulated, whole):
        trainer.train()
        trainer.writer.finish()
    assert accumulated.step == whole.step == 4
    assert accumulated.train_batches.state_dict() == {"pass": 1, "position": 4}
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(
            accumulated.model.state_dict()[name], value, rtol=1e-4, atol=1e-6
        )
