"""A training run meets unreadable audio: skipped with one warning per file, and counted."""

import json
import logging

import pytest

from src.trainer.setup import build_trainer
from tests.conftest import FIXED_LENGTH, compose_config, write_tone


def write_manifest(folder, bad: bool = True, good: bool = True):
    """A corrupt and an empty file (the shortest: bucketed together into one batch that keeps
    nothing), then four readable tones."""
    lines = []
    if bad:
        (folder / "corrupt.wav").write_bytes(b"RIFF not really a wave file")
        write_tone(folder / "empty.wav", 0.0)
        lines += [
            {"path": name, "duration": 0.1, "text": "a"} for name in ("corrupt.wav", "empty.wav")
        ]
    if good:
        for index, word in enumerate(["yes", "no", "up", "down"]):
            write_tone(folder / f"{word}.wav", 0.3 + 0.1 * index, frequency=200 + 100 * index)
            lines.append({"path": f"{word}.wav", "duration": 0.3 + 0.1 * index, "text": word})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def tiny_trainer(manifest, run_dir):
    cfg = compose_config(
        "deepspeech2_cpu",
        *FIXED_LENGTH,
        *[
            "datasets=manifest",
            f"datasets.train.manifest_path={manifest}",
            f"datasets.val.manifest_path={manifest}",
            "model.rnn_layers=1",
            "model.rnn_hidden=16",
            "model.conv_channels=[4,4]",
            "dataloader=bucketed",
            "dataloader.batch_size=2",
            "writer=cometml",
            "trainer.n_epochs=1",
            "trainer.epoch_len=3",
            "trainer.amp=off",
            "trainer.log_examples=0",
            "trainer.log_augmentations=0",
            f"trainer.save_dir={run_dir}",
            "trainer.run_name=run",
        ],
    )
    return build_trainer(cfg)


def test_unreadable_files_are_skipped_warned_about_once_and_counted(tmp_path, caplog):
    trainer = tiny_trainer(write_manifest(tmp_path), tmp_path / "saved")
    with caplog.at_level(logging.WARNING, logger="src.trainer.trainer"):
        logs = trainer.train()
    trainer.writer.finish()
    assert trainer.step == 3  # two passes: every step found a batch, past the empty ones
    assert logs["skipped_audio_files"] == 2 and "val_WER_(Argmax)" in logs
    warnings = [r.getMessage() for r in caplog.records if r.name == "src.trainer.trainer"]
    assert len(warnings) == 2  # met in both training passes and validation: reported once
    assert "corrupt.wav" in warnings[0] or "corrupt.wav" in warnings[1]
    assert any("empty.wav: empty audio" in message for message in warnings)


def test_a_training_set_without_readable_audio_is_an_error(tmp_path):
    trainer = tiny_trainer(write_manifest(tmp_path, good=False), tmp_path / "saved")
    with pytest.raises(RuntimeError, match="no readable audio"):
        trainer.train()
    trainer.writer.finish()
