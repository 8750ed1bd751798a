from pathlib import Path

import pytest
import torch

from src.utils import runtime


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
