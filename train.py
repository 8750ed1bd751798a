"""Train a CTC model: `python train.py -cn=deepspeech2 datasets=synthetic [overrides]`."""

import hydra
from omegaconf import DictConfig

from src.trainer.setup import build_trainer


@hydra.main(version_base="1.3", config_path="configs", config_name="deepspeech2")
def main(cfg: DictConfig) -> None:
    trainer = build_trainer(cfg)
    try:
        trainer.train()
    finally:
        trainer.pipeline.close()
        trainer.writer.finish()


if __name__ == "__main__":
    main()
