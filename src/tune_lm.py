"""Tune the LM decoder's alpha and beta on one partition (config: configs/tune_lm.yaml):

    python -m src.tune_lm inferencer.from_pretrained=CKPT decoders.LM.lm_path=LM \
        [tune.partition=val]

The model runs once over the partition; its log-probabilities are cached next to the checkpoint
and every (alpha, beta) pair is decoded from the cache. Prints WER/CER per pair and writes the
best pair to a YAML file that `decoders.LM.params_file` reads at inference.
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from src.decoding.fusion import save_lm_params
from src.decoding.log_prob_cache import LogProbCache, fingerprint
from src.decoding.tune import best_point, evaluate, grid_search, table, tunable
from src.trainer.config import TuneConfig
from src.trainer.inferencer import Inferencer
from src.trainer.log_probs import cached_log_probs
from src.trainer.setup import build_inferencer, typed

logger = logging.getLogger(__name__)


def partition_log_probs(cfg: DictConfig) -> tuple[Inferencer, LogProbCache]:
    """The inferencer `cfg` describes and the log-probabilities of `tune.partition`: from the
    cache when it matches the checkpoint and the dataset config, else computed and cached."""
    settings = typed(TuneConfig, cfg.tune)
    checkpoint = Path(cfg.inferencer.from_pretrained)
    inferencer = build_inferencer(cfg)
    loader = inferencer.dataloaders[settings.partition]
    if not getattr(loader.dataset, "has_transcriptions", True):
        raise ValueError(f"partition {settings.partition!r} has no transcriptions")
    weights = cfg.inferencer.weights
    suffix = "" if weights == "model" else f"_{weights}"
    default_cache = checkpoint.parent / f"log_probs_{settings.partition}{suffix}.pt"
    cache_path = settings.cache_path or default_cache
    key = fingerprint(checkpoint, settings.partition, cfg.datasets, weights)
    return inferencer, cached_log_probs(inferencer.pipeline, loader, key, cache_path)


@hydra.main(version_base="1.3", config_path="../configs", config_name="tune_lm")
def main(cfg: DictConfig) -> None:
    settings = typed(TuneConfig, cfg.tune)
    checkpoint = Path(cfg.inferencer.from_pretrained)
    inferencer, cache = partition_log_probs(cfg)
    decoder = tunable(inferencer.pipeline.decoders, settings.decoder)
    points = grid_search(decoder, cache, settings.alphas, settings.betas)
    best = best_point(points)
    print(f"{settings.partition}: {len(cache.ids)} utterances, LM {decoder.lm_path}")
    for name, other in inferencer.pipeline.decoders.items():
        if other is not decoder:
            wer, cer = evaluate(other, cache)
            print(f"{name} (for comparison): WER {100 * wer:.2f}% CER {100 * cer:.2f}%")
    print(table(points, best))
    output = save_lm_params(
        settings.output or checkpoint.parent / "lm_params.yaml",
        best.alpha,
        best.beta,
        wer=best.wer,
        cer=best.cer,
        partition=settings.partition,
        lm_path=str(decoder.lm_path),
        checkpoint=str(checkpoint),
    )
    print(f"best: alpha {best.alpha:g}, beta {best.beta:g} -> {output}")
    lm = f"decoders.{settings.decoder}"
    hydra_config = HydraConfig.get()
    settings_of_lm = " ".join(  # as given here (LM files, beam, lexicon...), but the weights
        override
        for override in hydra_config.overrides.task
        if override.startswith(f"{lm}.") and not override.startswith(f"{lm}.params_file=")
    )
    print(
        f"decode with them: python inference.py inferencer.from_pretrained={checkpoint} "
        f"decoders={hydra_config.runtime.choices.decoders} {settings_of_lm} "
        f"{lm}.params_file={output} inferencer.output_decoder={settings.decoder}"
    )


if __name__ == "__main__":
    main()
