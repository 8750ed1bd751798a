"""Grid search of an LM decoder's alpha and beta on cached log-probabilities (the command is
`python -m src.tune_lm`)."""

import logging
from dataclasses import dataclass

from src.decoding.base import CTCDecoder
from src.decoding.fusion import FusionDecoder
from src.decoding.log_prob_cache import LogProbCache
from src.metrics import corpus_error_rates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridPoint:
    alpha: float
    beta: float
    wer: float
    cer: float


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
