from src.model.base import CTCModel
from src.model.baseline import BaselineModel
from src.model.deepspeech2 import DeepSpeech2

__all__ = ["BaselineModel", "CTCModel", "DeepSpeech2"]
