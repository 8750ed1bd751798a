from src.model.base import CTCModel
from src.model.baseline import BaselineModel
from src.model.build import MODEL_TARGETS, build_model
from src.model.deepspeech2 import DeepSpeech2

__all__ = ["MODEL_TARGETS", "BaselineModel", "CTCModel", "DeepSpeech2", "build_model"]
