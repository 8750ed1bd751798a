from src.transforms.augmentations import SpecAugment, SpeedPerturbation
from src.transforms.features import LogMelSpectrogram, LogSpectrogram

__all__ = ["LogMelSpectrogram", "LogSpectrogram", "SpecAugment", "SpeedPerturbation"]
