from src.text_encoder.ctc_char_text_encoder import CTCCharTextEncoder, normalize_text

__all__ = ["CTCCharTextEncoder", "normalize_text"]
