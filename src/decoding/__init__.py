from src.decoding.argmax import ArgmaxDecoder
from src.decoding.base import CTCDecoder, Hypothesis
from src.decoding.beam_search import BeamSearchDecoder
from src.decoding.build import build_decoders
from src.decoding.flashlight import FlashlightDecoder
from src.decoding.fusion import FusionDecoder
from src.decoding.lm_beam_search import LMBeamSearchDecoder

__all__ = [
    "ArgmaxDecoder",
    "BeamSearchDecoder",
    "CTCDecoder",
    "FlashlightDecoder",
    "FusionDecoder",
    "Hypothesis",
    "LMBeamSearchDecoder",
    "build_decoders",
]
