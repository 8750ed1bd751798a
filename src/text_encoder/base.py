"""What decoders, datasets and checkpoints need from a CTC text encoder."""

from collections.abc import Iterable
from typing import Any, Protocol

import torch


class TextEncoder(Protocol):
    """`vocab[0]` is the CTC blank ''; `CTCCharTextEncoder` and `SentencePieceTextEncoder`."""

    vocab: list[str]

    @property
    def blank_index(self) -> int: ...

    def __len__(self) -> int: ...

    def normalize(self, text: str) -> str:
        """Raw transcript -> the normalised text that is encoded and scored."""
        ...

    def encode(self, text: str) -> torch.Tensor:
        """Normalised text -> token ids (no blanks)."""
        ...

    def labels_to_text(self, labels: Iterable[int]) -> str:
        """A collapsed label sequence (no blanks) -> normalised text."""
        ...

    def checkpoint_state(self) -> dict[str, Any] | None:
        """What a checkpoint stores as `text_encoder` besides `vocab` (None: nothing)."""
        ...
