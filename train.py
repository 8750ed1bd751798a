"""Train a CTC model: `python train.py -cn=deepspeech2 datasets=synthetic [overrides]`.

SIGINT (Ctrl-C) or SIGTERM saves `interrupted.pth` at the next safe point and exits with 130 or
143; `trainer.resume_from=<run dir>/interrupted.pth` continues the run exactly."""

import hydra
from omegaconf import DictConfig

from src.trainer.setup import build_trainer
from src.trainer.signals import TrainingInterrupted


@hydra.main(version_base="1.3", config_path="configs", config_name="deepspeech2")
def main(cfg: DictConfig) -> None:
    trainer = build_trainer(cfg)
    try:
        trainer.train()
    except TrainingInterrupted as interrupted:
        raise SystemExit(interrupted.exit_code) from None
    finally:
        trainer.pipeline.close()
        trainer.writer.finish()


if __name__ == "__main__":
    main()
