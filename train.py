"""Train a CTC model: `python train.py -cn=deepspeech2 datasets=synthetic [overrides]`; on
several processes (GPUs, machines) `torchrun --standalone --nproc_per_node=N train.py ...`
(docs/scaling.md).

SIGINT (Ctrl-C) or SIGTERM saves `interrupted.pth` at the next safe point and exits with 130 or
143; `trainer.resume_from=<run dir>/interrupted.pth` continues the run exactly. Under torchrun a
rank that fails logs `rank R of N failed: ...` and exits non-zero (torchrun then stops the
others; a rank left waiting in a collective fails after `trainer.dist_timeout_s`)."""

import gc
import sys

import hydra
from omegaconf import DictConfig

from src.trainer.distributed import failures_named, hydra_overrides
from src.trainer.setup import build_trainer
from src.trainer.signals import TrainingInterrupted


@hydra.main(version_base="1.3", config_path="configs", config_name="deepspeech2")
def main(cfg: DictConfig) -> None:
    with failures_named():
        trainer = build_trainer(cfg)
        dist, exit_code = trainer.dist, 0
        try:
            trainer.train()
        except TrainingInterrupted as interrupted:
            exit_code = interrupted.exit_code  # every rank agreed to stop here
        finally:
            trainer.pipeline.close()
            trainer.writer.finish()
        # Free DistributedDataParallel (and its process group) while Python is alive: a gloo
        # group destroyed during interpreter shutdown aborts the process now and then.
        del trainer
        gc.collect()
        dist.close()
    if exit_code:
        raise SystemExit(exit_code)


if __name__ == "__main__":
    sys.argv += hydra_overrides()  # ranks other than 0 write nothing into the run folder
    main()
