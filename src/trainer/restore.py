"""A trained model back from its checkpoint, for inference: weights, features and text encoder.

The checkpoint is untrusted input: it is read with `weights_only=True`, and the model and the
features are rebuilt from the plain-data specs of its stored config, allowed only to name the
project's own model and feature classes (`src.utils.spec`); nothing else it names is called.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from src.model import MODEL_TARGETS, CTCModel, build_model
from src.text_encoder import TextEncoder, load_text_encoder
from src.transforms.features import FEATURE_TARGETS, LogFeatures, build_features
from src.utils.checkpoint import load_checkpoint
from src.utils.spec import UnsafeSpecError, check_spec


@dataclass
class TrainedModel:
    """What inference needs from a checkpoint; `checkpoint` is the whole loaded file."""

    model: CTCModel
    features: LogFeatures
    text_encoder: TextEncoder
    checkpoint: dict[str, Any]


def _stored(checkpoint: dict[str, Any], path: Path, *keys: str) -> Any:
    value: Any = checkpoint
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise UnsafeSpecError(f"{path}: no {'.'.join(keys[: depth + 1])} in the checkpoint")
        value = value[key]
    return value


WEIGHTS = {"model": "model", "ema": "ema"}  # `weights=` -> the checkpoint key holding them


def load_trained_model(
    path: str | Path, device: str | torch.device = "cpu", weights: str = "model"
) -> TrainedModel:
    """The model (in eval mode, on `device`), its features and text encoder from a checkpoint
    written by `train.py`; `weights="ema"` takes the moving average of its weights (a run with
    `trainer.ema_decay`). A stored config that names anything but the project's models and
    features, or holds more than plain data, is an `UnsafeSpecError` naming the key and value,
    raised before anything is built."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {sorted(WEIGHTS)}, got {weights!r}")
    path = Path(path)
    checkpoint = load_checkpoint(path)
    specs = {
        "config.model": (_stored(checkpoint, path, "config", "model"), MODEL_TARGETS),
        "config.transforms.features": (
            _stored(checkpoint, path, "config", "transforms", "features"),
            FEATURE_TARGETS,
        ),
    }
    for key, (spec, allowed) in specs.items():  # every spec checked before anything is built
        check_spec(spec, allowed, f"{path}: {key}")
    text_encoder = load_text_encoder(checkpoint, str(path))
    features = build_features(specs["config.transforms.features"][0], f"{path}: features")
    model = build_model(specs["config.model"][0], features.n_feats, len(text_encoder))
    if weights == "ema" and "ema" not in checkpoint:
        raise KeyError(
            f"{path}: no moving average in the checkpoint (train with trainer.ema_decay)"
        )
    model.load_state_dict(_stored(checkpoint, path, WEIGHTS[weights]))
    return TrainedModel(model.to(device).eval(), features.to(device), text_encoder, checkpoint)
