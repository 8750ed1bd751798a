from src.text_encoder.base import TextEncoder
from src.text_encoder.build import build_text_encoder, load_text_encoder
from src.text_encoder.ctc_char_text_encoder import CTCCharTextEncoder, normalize_text
from src.text_encoder.sentencepiece_text_encoder import SentencePieceTextEncoder

__all__ = [
    "CTCCharTextEncoder",
    "SentencePieceTextEncoder",
    "TextEncoder",
    "build_text_encoder",
    "load_text_encoder",
    "normalize_text",
]
