"""Process-wide run settings: seeds, random generator states, threads, device and mixed
precision."""

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def derived_seed(*parts: object) -> int:
    """A 63-bit seed that is a function of `parts` alone (e.g. the run seed and a step)."""
    return random.Random("-".join(map(str, parts))).getrandbits(63)


def rng_states() -> dict[str, Any]:
    """The global generators (Python, numpy, torch CPU, every CUDA device) as plain data and
    tensors, which a `weights_only` checkpoint can hold."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            **numpy_state,
            "state": {**numpy_state["state"], "key": numpy_state["state"]["key"].tolist()},
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` returned. CUDA states are restored when the device count is the
    same as when they were taken (a CPU checkpoint resumed on a GPU keeps the GPU's seeding)."""
    random.setstate(states["python"])
    numpy_state = states["numpy"]
    key = np.array(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": key}})
    torch.set_rng_state(states["torch"])
    if torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Inside: torch's CPU generator and `device`'s (when CUDA) seeded with `seed`, so what is
    drawn there is a function of `seed` alone; after: both as they were before."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def set_num_threads(num_threads: int | None) -> None:
    """Size torch's intra-op thread pool, which runs the model's kernels (OpenMP, oneDNN, MKL);
    it takes effect at once, whenever it is called. None keeps torch's default (one thread per
    core). DataLoader workers run one thread each whatever this says (torch sets it in every
    worker). Environment variables such as OMP_NUM_THREADS are read only when OpenMP starts,
    so they must be set before Python is launched, never from here."""
    if num_threads:
        torch.set_num_threads(num_threads)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bfloat16 natively. A CPU without AVX512-BF16 or AMX only
    emulates it: bf16 autocast there ran a DeepSpeech2 step 20x slower than fp32 (AVX2 EPYC)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


def resolve_amp(amp: str, device: torch.device) -> str:
    """`auto` -> `bf16` where `device` runs it natively, `fp16` on a CUDA GPU without bf16,
    else `off`; an explicit choice is validated and kept."""
    if amp == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.type == "cuda" else "off"
    amp_dtype(amp)
    return amp


def amp_dtype(amp: str) -> torch.dtype | None:
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be one of {sorted(AMP_DTYPES)}, got {amp!r}")
    return AMP_DTYPES[amp]


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """Autocast to the chosen dtype on `device`, or a no-op when amp is off."""
    dtype = amp_dtype(amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
