"""Text encoders from the `text_encoder` config or from a checkpoint."""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig

from src.text_encoder.base import TextEncoder
from src.text_encoder.ctc_char_text_encoder import CTCCharTextEncoder
from src.text_encoder.sentencepiece_text_encoder import STATE_TYPE, SentencePieceTextEncoder


def build_text_encoder(config: DictConfig, transcripts: Callable[[], list[str]]) -> TextEncoder:
    """The encoder `config` describes. One that learns its units from text (its `_target_`
    takes `transcripts`, e.g. `SentencePieceTextEncoder.from_transcripts`) gets
    `transcripts()`: the training partition's normalised transcripts, asked for only then."""
    target = get_object(config._target_)
    if "transcripts" in inspect.signature(target).parameters:
        return instantiate(config, _partial_=True)(transcripts=transcripts())
    return instantiate(config)


def load_text_encoder(checkpoint: Mapping[str, Any], where: str) -> TextEncoder:
    """The encoder a checkpoint holds: `text_encoder` (a sentencepiece model) when stored,
    else characters from `vocab` (every checkpoint has it; older ones have only it). The
    rebuilt vocabulary must equal the stored one; anything else is a `ValueError` naming
    `where` (the checkpoint file)."""
    vocab = checkpoint.get("vocab")
    state = checkpoint.get("text_encoder")
    if state is None:
        try:
            return CTCCharTextEncoder.from_vocab(vocab)
        except ValueError as error:
            raise ValueError(f"{where}: vocab: {error}") from None
    kind = state.get("type") if isinstance(state, Mapping) else None
    if kind != STATE_TYPE:
        raise ValueError(f"{where}: text_encoder.type={kind!r} is unknown; expected {STATE_TYPE!r}")
    encoder = SentencePieceTextEncoder.from_checkpoint_state(dict(state), where)
    if encoder.vocab != vocab:
        raise ValueError(f"{where}: the stored sentencepiece model does not match its vocab")
    return encoder
