from src.transforms.batch_augs import BatchAdditiveNoise, BatchSpeedPerturbation
from src.transforms.features import LogMelSpectrogram, LogSpectrogram
from src.transforms.spec_augs import SpecAugment, VocalTractLengthPerturbation
from src.transforms.wave_augs import (
    AdditiveNoise,
    BandPass,
    Gain,
    PitchShift,
    Reverberation,
    SpeedPerturbation,
)

__all__ = [
    "AdditiveNoise",
    "BandPass",
    "BatchAdditiveNoise",
    "BatchSpeedPerturbation",
    "Gain",
    "LogMelSpectrogram",
    "LogSpectrogram",
    "PitchShift",
    "Reverberation",
    "SpecAugment",
    "SpeedPerturbation",
    "VocalTractLengthPerturbation",
]
