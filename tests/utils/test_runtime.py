import random
from pathlib import Path

import numpy as np
import pytest
import torch

from src.utils import runtime
from src.utils.checkpoint import load_checkpoint, save_checkpoint


def test_auto_amp_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    assert runtime.resolve_amp("auto", cpu) == "bf16"
    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)
    assert runtime.resolve_amp("auto", cpu) == "off"
    assert runtime.resolve_amp("auto", torch.device("cuda")) == "fp16"  # a GPU without bf16
    assert runtime.resolve_amp("bf16", cpu) == "bf16"  # an explicit choice is kept


def test_native_bf16_matches_the_cpu_flags():
    """oneDNN's answer agrees with what the kernel reports of this CPU (AVX512-BF16 or AMX)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo to read the CPU flags from")
    flags = set(cpuinfo.read_text().split())
    expected = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert runtime.native_bf16(torch.device("cpu")) is expected


def test_unknown_amp_is_rejected():
    with pytest.raises(ValueError, match="amp must be one of"):
        runtime.resolve_amp("fp8", torch.device("cpu"))


def test_num_threads_takes_effect_at_once():
    before = torch.get_num_threads()
    try:
        runtime.set_num_threads(1)
        assert torch.get_num_threads() == 1
        runtime.set_num_threads(None)  # keeps what is there
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_generator_states_survive_a_weights_only_checkpoint(tmp_path):
    states = runtime.rng_states()
    expected = draws()
    path = save_checkpoint({"rng": states}, tmp_path / "rng.pth")
    runtime.set_seed(99)  # anything else in between
    runtime.set_rng_states(load_checkpoint(path)["rng"])
    assert draws() == expected


def test_seeded_draws_depend_on_the_seed_and_leave_the_globals_alone():
    cpu = torch.device("cpu")
    runtime.set_seed(1)
    expected = torch.rand(3)
    runtime.set_seed(1)
    with runtime.seeded(7, cpu):
        inside = torch.rand(3)
    with runtime.seeded(7, cpu):
        assert torch.equal(torch.rand(3), inside)
    assert torch.equal(torch.rand(3), expected)
    assert runtime.derived_seed(1, "step", 2) == runtime.derived_seed(1, "step", 2)
    assert runtime.derived_seed(1, "step", 2) != runtime.derived_seed(1, "step", 3)
