"""Serve the browser demo and JSON API: `python -m src.serve model=CKPT [port=8000]`."""

import logging
import sys

import hydra
import uvicorn
from omegaconf import DictConfig

from src.transcription.cli import checkpoint_argv, load_for_transcription
from src.utils.runtime import resolve_device, set_num_threads
from src.web.app import create_app


@hydra.main(version_base="1.3", config_path="../configs", config_name="serve")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    _, _, transcriber = load_for_transcription(cfg, device)
    app = create_app(
        transcriber,
        decoder_name=cfg.decoder,
        max_upload_bytes=int(cfg.max_upload_mb * 2**20),
        max_seconds=float(cfg.max_seconds),
    )
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info")


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *checkpoint_argv(sys.argv[1:])]
    main()
