"""Weights & Biases writer. ``mode="offline"`` writes ``run_dir/wandb/offline-run-*`` only
(upload later with ``wandb sync <dir>``); ``mode="online"`` needs ``WANDB_API_KEY`` or
``wandb login``."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from src.logger.writer import BaseWriter, MissingCredentialsError

DEFAULT_WANDB_HOST = "https://api.wandb.ai"


def has_wandb_credentials() -> bool:
    """True if W&B can authenticate without prompting: env key/token or a netrc entry."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_WANDB_HOST).netloc
    netrc_path = Path(os.environ.get("NETRC") or "~/.netrc").expanduser()
    if not host or not netrc_path.is_file():
        return False
    try:
        creds = netrc.netrc(netrc_path).authenticators(host)
    except (netrc.NetrcParseError, OSError):
        return False
    return bool(creds and creds[2])


class WandBWriter(BaseWriter):
    """Logs to W&B with ``step=`` the global step.

    Args (besides :class:`BaseWriter`'s):
        entity: W&B team/user (``None`` = default entity of the key).
        run_id: id of a run to resume (``resume="allow"``); ``None`` starts a new run.
        settings: extra ``wandb.Settings`` fields, overriding the quiet defaults below.
        **init_kwargs: forwarded to ``wandb.init`` (e.g. ``tags``, ``group``, ``notes``).
    """

    def __init__(
        self,
        project_name: str,
        run_name: str | None,
        run_dir: str | Path,
        config: Mapping[str, Any] | None,
        mode: str = "offline",
        entity: str | None = None,
        run_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__(project_name, run_name, run_dir, config, mode)
        if mode == "online" and not has_wandb_credentials():
            raise MissingCredentialsError(
                "W&B online mode needs an API key: set WANDB_API_KEY (or run `wandb login`), "
                "or log locally with writer.mode=offline."
            )
        import wandb

        self._wandb = wandb
        quiet = {
            "silent": True,
            "console": "off",  # do not mirror stdout/stderr into the run
            "x_disable_stats": True,  # no system-metrics sampling process
            "x_save_requirements": False,
            "disable_git": True,
            "save_code": False,
        }
        quiet.update(dict(settings or {}))
        if run_id is not None:
            init_kwargs.setdefault("resume", "allow")
        self.run = wandb.init(
            project=project_name,
            entity=entity,
            name=run_name,
            id=run_id,
            config=self.config,
            dir=str(self.run_dir),
            mode=mode,
            settings=wandb.Settings(**quiet),
            **init_kwargs,
        )

    def _log(self, data: dict[str, Any]) -> None:
        self.run.log(data, step=self.step)

    def _log_scalars(self, values: dict[str, float]) -> None:
        self._log(values)

    def _log_image(self, name: str, image: np.ndarray) -> None:
        self._log({name: self._wandb.Image(image)})

    def _log_audio(self, name: str, audio: np.ndarray, sample_rate: int) -> None:
        self._log({name: self._wandb.Audio(audio, sample_rate=sample_rate)})

    def _log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        table = self._wandb.Table(columns=columns, data=rows, allow_mixed_types=True)
        self._log({name: table})

    def _finish(self) -> None:
        self.run.finish()
