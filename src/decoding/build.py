"""Decoders from the `decoders` config: `{display name: partial decoder config}`."""

from hydra.utils import instantiate
from omegaconf import DictConfig

from src.decoding.base import CTCDecoder
from src.text_encoder import CTCCharTextEncoder


def build_decoders(
    decoders_config: DictConfig, text_encoder: CTCCharTextEncoder
) -> dict[str, CTCDecoder]:
    """Every configured decoder by its display name, given the run's text encoder."""
    return {name: instantiate(config)(text_encoder) for name, config in decoders_config.items()}
