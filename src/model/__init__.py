from src.model.base import CTCModel
from src.model.baseline import BaselineModel
from src.model.build import MODEL_TARGETS, build_model
from src.model.conformer import ConformerCTC
from src.model.deepspeech2 import DeepSpeech2
from src.model.masking import MaskedBatchNorm1d
from src.model.quartznet import QuartzNet

__all__ = [
    "MODEL_TARGETS",
    "BaselineModel",
    "CTCModel",
    "ConformerCTC",
    "DeepSpeech2",
    "MaskedBatchNorm1d",
    "QuartzNet",
    "build_model",
]
