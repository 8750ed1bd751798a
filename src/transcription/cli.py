"""Command-line details shared by transcribe.py, src.export and src.serve."""

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from src.decoding import CTCDecoder, build_decoders
from src.text_encoder import CTCCharTextEncoder

MODEL_PREFIX = "model="
DECODERS = {"argmax": "Argmax", "beam": "BeamSearch", "lm": "LM"}  # short name: config name


def checkpoint_argv(argv: Sequence[str]) -> list[str]:
    """`model=CKPT` as `checkpoint=CKPT`: in these entry points `model=` names a checkpoint,
    while Hydra would read it as the `configs/model/` group (`model=deepspeech2_small`)."""
    return [
        f"checkpoint={argument[len(MODEL_PREFIX) :]}"
        if argument.startswith(MODEL_PREFIX)
        else argument
        for argument in argv
    ]


def build_decoder(
    decoders: DictConfig, short_name: str, text_encoder: CTCCharTextEncoder
) -> CTCDecoder:
    """The one decoder `short_name` (argmax, beam, lm) of a composed `decoders` config."""
    if short_name not in DECODERS:
        raise ValueError(f"decoder must be one of {sorted(DECODERS)}, got {short_name!r}")
    name = DECODERS[short_name]
    return build_decoders(OmegaConf.create({name: decoders[name]}), text_encoder)[name]
