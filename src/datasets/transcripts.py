"""The normalised transcripts of a training partition, e.g. to learn subword units from."""

from hydra.utils import instantiate
from omegaconf import DictConfig

from src.text_encoder import CTCCharTextEncoder


def training_transcripts(partition_config: DictConfig) -> list[str]:
    """Builds the partition (its filters and `limit` apply, unreadable audio is skipped) with
    the character encoder, whose normalisation every encoder shares, and returns its texts."""
    dataset = instantiate(partition_config, text_encoder=CTCCharTextEncoder(), skip_bad_audio=True)
    return dataset.texts()
