"""Command-line details shared by transcribe.py, src.export and src.serve."""

from collections.abc import Sequence

MODEL_PREFIX = "model="


def checkpoint_argv(argv: Sequence[str]) -> list[str]:
    """`model=CKPT` as `checkpoint=CKPT`: in these entry points `model=` names a checkpoint,
    while Hydra would read it as the `configs/model/` group (`model=deepspeech2_small`)."""
    return [
        f"checkpoint={argument[len(MODEL_PREFIX) :]}"
        if argument.startswith(MODEL_PREFIX)
        else argument
        for argument in argv
    ]
