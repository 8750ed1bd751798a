from src.decoding.argmax import ArgmaxDecoder

__all__ = ["ArgmaxDecoder"]
