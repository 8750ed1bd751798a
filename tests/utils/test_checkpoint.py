import os

import pytest
import torch

from src.utils.checkpoint import load_checkpoint, save_checkpoint
from tests.hostile import pickled_code


def test_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(3.0)}, "epoch": 4, "vocab": ["", "a"], "cfg": {"x": [1]}}
    path = save_checkpoint(state, tmp_path / "sub" / "ckpt.pth")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 4 and loaded["vocab"] == ["", "a"] and loaded["cfg"] == {"x": [1]}
    torch.testing.assert_close(loaded["model"]["w"], torch.arange(3.0))
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pth"]  # no temp file left


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint({"epoch": 1}, tmp_path / "ckpt.pth")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 2}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pth"]


def test_refuses_pickled_code(tmp_path):
    marker = tmp_path / "owned"
    path = pickled_code(tmp_path / "evil.pth", f"touch {marker}")
    with pytest.raises(RuntimeError, match="evil.pth"):
        load_checkpoint(path)
    assert not marker.exists()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")
