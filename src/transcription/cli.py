"""Command-line details shared by transcribe.py, src.export and src.serve."""

from collections.abc import Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from src.decoding import CTCDecoder, build_decoders
from src.text_encoder import CTCCharTextEncoder
from src.trainer.restore import TrainedModel, load_trained_model
from src.transcription.transcriber import Transcriber

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


def load_for_transcription(
    cfg: DictConfig, device: torch.device | str
) -> tuple[TrainedModel, CTCDecoder, Transcriber]:
    """The checkpoint `cfg.checkpoint` on `device`, the decoder `cfg.decoder` and a
    transcriber over both with `cfg`'s window settings."""
    trained = load_trained_model(cfg.checkpoint, device)
    decoder = build_decoder(cfg.decoders, cfg.decoder, trained.text_encoder)
    transcriber = Transcriber(
        trained,
        decoder,
        device,
        chunk_seconds=cfg.chunk_seconds,
        context_seconds=cfg.context_seconds,
        pause_seconds=cfg.pause_seconds,
        min_chunk_seconds=cfg.min_chunk_seconds,
    )
    return trained, decoder, transcriber
