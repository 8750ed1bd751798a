"""Grid search of the LM decoder's alpha and beta on cached log-probabilities.

`python -m src.decoding.tune inferencer.from_pretrained=CKPT decoders.LM.lm_path=LM` (config:
configs/tune_lm.yaml) prints WER/CER per pair and writes the best pair to a YAML file that
`decoders.LM.params_file` reads at inference.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from src.decoding.base import CTCDecoder
from src.decoding.fusion import FusionDecoder, save_lm_params
from src.decoding.log_prob_cache import LogProbCache, cached_log_probs, fingerprint
from src.metrics import EditCounts, char_edits, error_rate, word_edits
from src.trainer.inferencer import Inferencer
from src.trainer.setup import build_inferencer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridPoint:
    alpha: float
    beta: float
    wer: float
    cer: float


def corpus_error_rates(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """Corpus WER and CER: total edits over total reference words / characters."""
    rates = []
    for count_edits in (word_edits, char_edits):
        counts = [count_edits(ref, hyp) for ref, hyp in zip(references, hypotheses, strict=True)]
        total = EditCounts(sum(c.edits for c in counts), sum(c.reference_length for c in counts))
        rates.append(error_rate(total))
    return rates[0], rates[1]


def evaluate(decoder: CTCDecoder, cache: LogProbCache) -> tuple[float, float]:
    hypotheses = decoder.decode_utterances(cache.arrays())
    return corpus_error_rates(cache.references, [hypothesis.text for hypothesis in hypotheses])


def tunable(decoders: dict[str, CTCDecoder], name: str) -> FusionDecoder:
    """The decoder `name`, which must fuse an LM (whose alpha and beta the tuner sets)."""
    decoder = decoders.get(name)
    if not isinstance(decoder, FusionDecoder) or not decoder.has_lm:
        raise ValueError(
            f"tune.decoder={name!r} must be a decoder with an LM (LMBeamSearchDecoder or "
            f"FlashlightDecoder; set decoders.{name}.lm_path), got {type(decoder).__name__}"
        )
    return decoder


def grid_search(
    decoder: FusionDecoder, cache: LogProbCache, alphas: list[float], betas: list[float]
) -> list[GridPoint]:
    """WER and CER of every (alpha, beta); the decoder keeps the last pair."""
    points = []
    for alpha in alphas:
        for beta in betas:
            decoder.set_params(alpha, beta)
            point = GridPoint(alpha, beta, *evaluate(decoder, cache))
            logger.info("alpha %g beta %g: WER %.4f CER %.4f", alpha, beta, point.wer, point.cer)
            points.append(point)
    return points


def best_point(points: list[GridPoint]) -> GridPoint:
    """Lowest WER, then lowest CER; the first listed among equals."""
    return min(points, key=lambda point: (point.wer, point.cer))


def table(points: list[GridPoint], best: GridPoint) -> str:
    lines = [f"{'alpha':>7} {'beta':>6} {'WER':>8} {'CER':>8}"]
    for point in points:
        mark = "  <- best" if point == best else ""
        lines.append(
            f"{point.alpha:7.3g} {point.beta:6.3g} {100 * point.wer:7.2f}% {100 * point.cer:7.2f}%"
            + mark
        )
    return "\n".join(lines)


def partition_log_probs(cfg: DictConfig) -> tuple[Inferencer, LogProbCache]:
    """The inferencer `cfg` describes and the log-probabilities of `tune.partition`: from the
    cache when it matches the checkpoint and the dataset config, else computed and cached."""
    settings = cfg.tune
    checkpoint = Path(cfg.inferencer.from_pretrained)
    inferencer = build_inferencer(cfg)
    loader = inferencer.dataloaders[settings.partition]
    if not getattr(loader.dataset, "has_transcriptions", True):
        raise ValueError(f"partition {settings.partition!r} has no transcriptions")
    cache_path = settings.cache_path or checkpoint.parent / f"log_probs_{settings.partition}.pt"
    key = fingerprint(checkpoint, settings.partition, cfg.datasets)
    return inferencer, cached_log_probs(inferencer.pipeline, loader, key, cache_path)


@hydra.main(version_base="1.3", config_path="../../configs", config_name="tune_lm")
def main(cfg: DictConfig) -> None:
    settings = cfg.tune
    checkpoint = Path(cfg.inferencer.from_pretrained)
    inferencer, cache = partition_log_probs(cfg)
    decoder = tunable(inferencer.pipeline.decoders, settings.decoder)
    points = grid_search(decoder, cache, list(settings.alphas), list(settings.betas))
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
