"""Backend-agnostic experiment writer.

The trainer talks to a writer through a small interface: ``set_step`` selects the global step
and the stage (``"train"``, ``"val"``, ...), every ``add_*`` call logs under the name
``f"{stage}_{name}"`` at that step. Subclasses only implement the ``_log_*`` hooks, which receive
plain Python / numpy data (conversion from tensors happens here).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

RUN_MODES = ("online", "offline")


class MissingCredentialsError(RuntimeError):
    """Online mode was requested but no API key for the backend was found."""


class BaseWriter(ABC):
    """Common logic of the experiment writers (name prefixing, step timing, data conversion).

    Args:
        project_name: project on the tracking server.
        run_name: human-readable run name (``None`` lets the backend pick one).
        run_dir: directory of the run; offline artefacts are written below it.
        config: run configuration (plain dict or OmegaConf container), logged as hyperparameters.
        mode: ``"online"`` (needs an account / API key) or ``"offline"`` (local files only).
    """

    def __init__(
        self,
        project_name: str,
        run_name: str | None,
        run_dir: str | Path,
        config: Mapping[str, Any] | None,
        mode: str = "offline",
    ) -> None:
        if mode not in RUN_MODES:
            raise ValueError(f"writer mode must be one of {RUN_MODES}, got {mode!r}")
        self.project_name = project_name
        self.run_name = run_name
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config = _to_plain_dict(config)
        self.mode = mode

        self.step = 0
        self.stage = "train"
        self._train_timer: tuple[int, float] | None = None  # (step, time) of last train set_step
        self._finished = False

    # ------------------------------------------------------------------ public interface
    def set_step(self, step: int, mode: str = "train") -> None:
        """Select the global step and stage; in train mode also log ``steps_per_sec``.

        The rate is measured between consecutive train-mode calls. Switching to another stage
        (validation, test) stops the clock, so evaluation time never lowers the training rate.
        """
        step = int(step)
        now = time.perf_counter()
        self.step = step
        self.stage = mode
        if mode != "train":
            self._train_timer = None
            return
        if self._train_timer is not None:
            last_step, last_time = self._train_timer
            elapsed = now - last_time
            if step > last_step and elapsed > 0:
                self.add_scalar("steps_per_sec", (step - last_step) / elapsed)
        self._train_timer = (step, now)

    def add_scalar(self, name: str, value: float) -> None:
        self._log_scalars({self._full_name(name): _to_float(value)})

    def add_scalars(self, values: Mapping[str, float]) -> None:
        if values:
            self._log_scalars({self._full_name(k): _to_float(v) for k, v in values.items()})

    def add_image(self, name: str, image: Any) -> None:
        """Log an image: HxWx3 uint8 array (HxW / HxWx4 / float in [0, 1] also accepted) or a
        3xHxW tensor."""
        self._log_image(self._full_name(name), _to_rgb_uint8(image))

    def add_spectrogram(self, name: str, spectrogram: torch.Tensor) -> None:
        """Render an (F, T) spectrogram (a leading batch/channel dim of 1 is dropped)."""
        self.add_image(name, render_spectrograms({"": _to_spectrogram(spectrogram)}))

    def add_spectrograms(self, name: str, panels: Mapping[str, torch.Tensor]) -> None:
        """Render titled (F, T) spectrograms one above the other in one image, on shared time
        and colour scales (e.g. before / after augmentation)."""
        arrays = {title: _to_spectrogram(spectrogram) for title, spectrogram in panels.items()}
        self.add_image(name, render_spectrograms(arrays))

    def add_audio(self, name: str, audio: torch.Tensor, sample_rate: int) -> None:
        """Log a mono waveform (1-D float tensor in [-1, 1]; a (1, N) tensor is flattened)."""
        wave = _to_numpy(audio).astype(np.float32)
        if wave.ndim == 2 and 1 in wave.shape:
            wave = wave.reshape(-1)
        if wave.ndim != 1:
            raise ValueError(f"audio must be 1-D, got shape {tuple(wave.shape)}")
        self._log_audio(self._full_name(name), wave, int(sample_rate))

    def add_table(self, name: str, table: list[Mapping[str, Any]]) -> None:
        """Log rows (dicts with the same keys) as a table; an empty list is ignored."""
        if not table:
            return
        columns = list(table[0].keys())
        for row in table:
            if list(row.keys()) != columns:
                raise ValueError(
                    f"table rows must have the same keys: {columns} != {list(row.keys())}"
                )
        rows = [[_to_cell(row[c]) for c in columns] for row in table]
        self._log_table(self._full_name(name), [str(c) for c in columns], rows)

    def finish(self) -> None:
        """Flush and close the run (safe to call more than once)."""
        if self._finished:
            return
        self._finished = True
        self._finish()

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _log_scalars(self, values: dict[str, float]) -> None: ...

    @abstractmethod
    def _log_image(self, name: str, image: np.ndarray) -> None:
        """``image`` is HxWx3 uint8."""

    @abstractmethod
    def _log_audio(self, name: str, audio: np.ndarray, sample_rate: int) -> None:
        """``audio`` is a 1-D float32 array."""

    @abstractmethod
    def _log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Cells are str / int / float / bool / None."""

    @abstractmethod
    def _finish(self) -> None: ...

    # ------------------------------------------------------------------ helpers
    def _full_name(self, name: str) -> str:
        return f"{self.stage}_{name}"


class NullWriter(BaseWriter):
    """Logs nothing: the writer of the ranks other than 0 under torchrun (rank 0 alone writes
    the experiment)."""

    def __init__(self, run_dir: str | Path, run_name: str | None = None, **_: Any) -> None:
        super().__init__("", run_name, run_dir, None)

    def _log_scalars(self, values: dict[str, float]) -> None:
        pass

    def _log_image(self, name: str, image: np.ndarray) -> None:
        pass

    def _log_audio(self, name: str, audio: np.ndarray, sample_rate: int) -> None:
        pass

    def _log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        pass

    def _finish(self) -> None:
        pass


def render_spectrograms(panels: Mapping[str, np.ndarray]) -> np.ndarray:
    """Draw (F, T) arrays (origin lower, no colorbar) as panels one above the other, titled by
    their keys (an empty title draws none), into a small RGB uint8 image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError("no spectrogram to render")
    fig = Figure(figsize=(6, 0.6 + 1.9 * len(panels)), dpi=100)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    low = min(float(spec.min()) for spec in panels.values())
    high = max(float(spec.max()) for spec in panels.values())
    for ax, (title, spec) in zip(axes, panels.items(), strict=True):
        bins, frames = spec.shape
        ax.imshow(
            spec,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap="magma",
            vmin=low,
            vmax=high,
            extent=(0, frames, 0, bins),
        )
        if title:
            ax.set_title(title, fontsize=8)
        ax.set_ylabel("bin", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_xlim(0, max(spec.shape[1] for spec in panels.values()))
    axes[-1].set_xlabel("frame", fontsize=8)
    fig.tight_layout(pad=0.3)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _to_rgb_uint8(image: Any) -> np.ndarray:
    is_tensor = isinstance(image, torch.Tensor)
    array = _to_numpy(image)
    if is_tensor and array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] > 4:
        array = np.moveaxis(array, 0, -1)  # CHW tensor -> HWC
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    array = array[..., :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        return (tensor.float() if tensor.is_floating_point() else tensor).numpy()
    return np.asarray(value)


def _to_spectrogram(spectrogram: Any) -> np.ndarray:
    """(F, T) float32; a leading batch/channel dimension of 1 is dropped."""
    spec = _to_numpy(spectrogram).astype(np.float32)
    if spec.ndim == 3 and spec.shape[0] == 1:
        spec = spec[0]
    if spec.ndim != 2:
        raise ValueError(f"spectrogram must have shape (F, T), got {tuple(spec.shape)}")
    return spec


def _to_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().item())
    return float(value)


def _to_cell(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _to_plain_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if type(config).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    return dict(config)
