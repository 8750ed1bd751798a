"""Comet ML writer. ``mode="offline"`` writes ``run_dir/comet/<experiment_key>.zip`` at
``finish()`` (upload later with ``comet upload <zip>``); ``mode="online"`` needs
``COMET_API_KEY`` (or ``api_key`` in a ``.comet.config`` file)."""

from __future__ import annotations

import logging
import os
import tempfile
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from src.logger.writer import BaseWriter, MissingCredentialsError

logger = logging.getLogger(__name__)

# Everything Comet would otherwise collect or print on its own; all of it can be re-enabled by
# passing the corresponding keyword (e.g. log_env_gpu=True) through the writer config.
QUIET_EXPERIMENT_KWARGS: dict[str, Any] = {
    "log_code": False,
    "log_graph": False,
    "auto_param_logging": False,
    "auto_metric_logging": False,
    "auto_output_logging": False,  # no stdout capture
    "parse_args": False,
    "log_env_details": False,
    "log_env_gpu": False,
    "log_env_cpu": False,
    "log_env_host": False,
    "log_env_network": False,
    "log_env_disk": False,
    "log_git_metadata": False,
    "log_git_patch": False,
    "auto_log_co2": False,
    "display_summary_level": 0,
}


def _import_comet_ml() -> Any:
    # Read by comet_ml at import time; setdefault keeps any value the user exported.
    # Auto-logging (framework monkey patching) is off anyway, and it is what emits the
    # "import comet_ml before torch" warning. Console INFO chatter is lowered to warnings.
    os.environ.setdefault("COMET_DISABLE_AUTO_LOGGING", "1")
    os.environ.setdefault("COMET_LOGGING_CONSOLE", "WARNING")
    import comet_ml

    return comet_ml


class CometMLWriter(BaseWriter):
    """Logs to Comet with the global step attached to every metric and media item.

    Args (besides :class:`BaseWriter`'s):
        workspace: Comet workspace (``None`` = default workspace of the key).
        experiment_key: key of an existing experiment to continue (online only).
        **experiment_kwargs: forwarded to ``comet_ml.Experiment`` / ``OfflineExperiment``,
            overriding :data:`QUIET_EXPERIMENT_KWARGS`.
    """

    def __init__(
        self,
        project_name: str,
        run_name: str | None,
        run_dir: str | Path,
        config: Mapping[str, Any] | None,
        mode: str = "offline",
        workspace: str | None = None,
        experiment_key: str | None = None,
        **experiment_kwargs: Any,
    ) -> None:
        super().__init__(project_name, run_name, run_dir, config, mode)
        comet_ml = _import_comet_ml()
        kwargs = {**QUIET_EXPERIMENT_KWARGS, **experiment_kwargs}
        if mode == "online":
            # Checked here so that a missing key fails fast, before any network call.
            if not (kwargs.get("api_key") or comet_ml.get_config("comet.api_key")):
                raise MissingCredentialsError(
                    "Comet online mode needs an API key: set COMET_API_KEY (or api_key in "
                    "~/.comet.config), or log locally with writer.mode=offline."
                )
            if experiment_key is not None:
                self.exp = comet_ml.ExistingExperiment(
                    experiment_key=experiment_key,
                    project_name=project_name,
                    workspace=workspace,
                    **kwargs,
                )
            else:
                self.exp = comet_ml.Experiment(
                    project_name=project_name, workspace=workspace, **kwargs
                )
        else:
            self.offline_dir = self.run_dir / "comet"
            self.offline_dir.mkdir(parents=True, exist_ok=True)
            self.exp = comet_ml.OfflineExperiment(
                project_name=project_name,
                workspace=workspace,
                offline_directory=str(self.offline_dir),
                **kwargs,
            )
        if run_name:
            self.exp.set_name(run_name)
        if self.config:
            self.exp.log_parameters(self.config)

    def set_step(self, step: int, mode: str = "train") -> None:
        super().set_step(step, mode)
        self.exp.set_step(self.step)  # also used by log_table, which takes no step

    def _log_scalars(self, values: dict[str, float]) -> None:
        self.exp.log_metrics(values, step=self.step)

    def _log_image(self, name: str, image: np.ndarray) -> None:
        self.exp.log_image(image, name=name, step=self.step)

    def _log_audio(self, name: str, audio: np.ndarray, sample_rate: int) -> None:
        # Comet converts numpy audio with scipy (not a dependency): write the WAV ourselves.
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.wav"
            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(sample_rate)
                wav.writeframes(pcm.tobytes())
            # copy_to_tmp (the default) makes Comet copy the file before we delete it.
            self.exp.log_audio(
                str(path), sample_rate=sample_rate, file_name=f"{name}.wav", step=self.step
            )

    def _log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.exp.log_table(f"{name}_step{self.step}.csv", tabular_data=rows, headers=columns)

    def _finish(self) -> None:
        self.exp.end()
        if self.mode == "offline":
            archives = sorted(self.offline_dir.glob("*.zip"), key=lambda p: p.stat().st_mtime)
            if archives:
                logger.info("Comet offline run saved to %s (`comet upload` it)", archives[-1])
