"""Models from configs or checkpoints: only the project's own CTC models can be built."""

import logging
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.model.base import CTCModel
from src.model.baseline import BaselineModel
from src.model.conformer import ConformerCTC
from src.model.deepspeech2 import DeepSpeech2
from src.model.quartznet import QuartzNet
from src.utils.spec import build_from_spec, class_targets

logger = logging.getLogger(__name__)

MODEL_TARGETS = class_targets([BaselineModel, DeepSpeech2, ConformerCTC, QuartzNet], "src.model")


def build_model(
    spec: Mapping[str, Any] | DictConfig, n_feats: int, n_tokens: int, where: str = "model"
) -> CTCModel:
    """The model a spec (`_target_` one of `MODEL_TARGETS`, plain-data keys) describes."""
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    model = build_from_spec(spec, MODEL_TARGETS, where, n_feats=n_feats, n_tokens=n_tokens)
    logger.info(model.parameter_summary())
    return model
