"""Subword CTC units: a sentencepiece model (BPE or unigram) learnt from training transcripts.

The CTC vocabulary is sentencepiece's own, with the blank in slot 0, where sentencepiece keeps
`<unk>`: every character the normalisation keeps (a-z, apostrophe; the space is the `▁` word
boundary) is a piece of its own (`required_chars`), so `<unk>` never occurs and no id needs
shifting. Text is normalised exactly like the character encoder's.
"""

import hashlib
import io
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sentencepiece
import torch

from src.text_encoder.ctc_char_text_encoder import BLANK, DEFAULT_ALPHABET, CTCCharTextEncoder
from src.utils.files import atomic_output

logger = logging.getLogger(__name__)

MODEL_TYPES = ("bpe", "unigram")
STATE_TYPE = "sentencepiece"  # `checkpoint["text_encoder"]["type"]`


class SentencePieceTextEncoder:
    """Maps normalised text to subword ids and back; index 0 is the CTC blank.

    Built from a serialised sentencepiece model (`model`, the bytes of a `.model` file), e.g.
    one stored in a checkpoint; `from_transcripts` trains (or reuses) one.
    """

    def __init__(self, model: bytes) -> None:
        self.model = bytes(model)
        try:
            self.processor = sentencepiece.SentencePieceProcessor(model_proto=self.model)
        except RuntimeError as error:
            raise ValueError(f"not a readable sentencepiece model ({error})") from None
        if self.processor.unk_id() != 0 or self.processor.bos_id() != -1:
            raise ValueError(
                "a CTC sentencepiece model needs <unk> at id 0 (the blank's slot) and no "
                "<s>/</s>; train it with SentencePieceTextEncoder.from_transcripts"
            )
        self.vocab = [BLANK] + [
            self.processor.id_to_piece(index) for index in range(1, self.processor.get_piece_size())
        ]
        missing = sorted(set(DEFAULT_ALPHABET) - {" "} - set(self.vocab))
        if missing:
            raise ValueError(f"the sentencepiece model lacks the characters {missing}")
        self.normalizer = CTCCharTextEncoder()

    @classmethod
    def from_transcripts(
        cls,
        transcripts: Sequence[str],
        vocab_size: int = 256,
        model_type: str = "bpe",
        cache_dir: str | Path = "data/sentencepiece",
    ) -> "SentencePieceTextEncoder":
        """A model of `vocab_size` units (CTC outputs, blank included) trained on normalised
        `transcripts`, cached in `cache_dir` under a hash of the transcripts and the options:
        the same training text gives the same model without training again."""
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        texts = [text for text in transcripts if text]
        if not texts:
            raise ValueError("no transcripts to learn subword units from")
        options = {"vocab_size": int(vocab_size), "model_type": model_type}
        digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
        digest.update("\n".join(texts).encode())
        path = Path(cache_dir) / f"{model_type}{vocab_size}_{digest.hexdigest()[:16]}.model"
        if path.is_file():
            logger.info("sentencepiece model %s (cached for these transcripts)", path)
            return cls(path.read_bytes())
        model = train_sentencepiece(texts, **options)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temporary:
            temporary.write_bytes(model)
        logger.info(
            "trained a %s model of %d units on %d transcripts: %s",
            model_type,
            vocab_size,
            len(texts),
            path,
        )
        return cls(model)

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def blank_index(self) -> int:
        return 0

    def normalize(self, text: str) -> str:
        """The character encoder's normalisation (and its warnings about dropped characters)."""
        return self.normalizer.normalize(text)

    def encode(self, text: str) -> torch.Tensor:
        """Encode already-normalised text; a character the model lacks is an error naming it."""
        ids = self.processor.encode(text)
        if self.blank_index in ids:
            unknown = sorted(set(text) - set("".join(self.vocab[1:])) - {" "})
            raise ValueError(f"character(s) {unknown} of {text!r} are not in the vocabulary")
        return torch.tensor(ids, dtype=torch.long)

    def labels_to_text(self, labels: Iterable[int]) -> str:
        """A collapsed label sequence (no blanks) -> normalised text (`▁` starts a word)."""
        return " ".join(self.processor.decode([int(label) for label in labels]).split())

    def checkpoint_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint (`torch.load(weights_only=True)` reads it back)."""
        model = torch.frombuffer(bytearray(self.model), dtype=torch.uint8)
        return {"type": STATE_TYPE, "model": model}

    @classmethod
    def from_checkpoint_state(cls, state: Any, where: str) -> "SentencePieceTextEncoder":
        """The encoder `checkpoint_state` stored; anything else is a `ValueError` naming
        `where` (e.g. the checkpoint file)."""
        model = state.get("model") if isinstance(state, dict) else None
        if not (torch.is_tensor(model) and model.dtype == torch.uint8 and model.dim() == 1):
            raise ValueError(f"{where}: text_encoder.model must be a 1-D uint8 tensor")
        try:
            return cls(model.numpy().tobytes())
        except ValueError as error:
            raise ValueError(f"{where}: text_encoder: {error}") from None


def train_sentencepiece(texts: Sequence[str], vocab_size: int, model_type: str) -> bytes:
    """The serialised model sentencepiece trains on `texts` (already normalised)."""
    writer = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=writer,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            required_chars="".join(char for char in DEFAULT_ALPHABET if char != " "),
            unk_id=0,
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            normalization_rule_name="identity",  # the texts are normalised already
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise ValueError(
            f"sentencepiece could not learn {vocab_size} {model_type} units from "
            f"{len(texts)} transcripts: {error}"
        ) from None
    return writer.getvalue()
