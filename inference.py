"""Decode audio with a trained checkpoint: `python inference.py inferencer.from_pretrained=...`."""

import hydra
from omegaconf import DictConfig

from src.trainer.inferencer import describe
from src.trainer.setup import build_inferencer


@hydra.main(version_base="1.3", config_path="configs", config_name="inference")
def main(cfg: DictConfig) -> None:
    results = build_inferencer(cfg).run()
    if any(results.values()):
        print(describe(results))


if __name__ == "__main__":
    main()
