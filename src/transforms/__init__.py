from src.transforms.features import LogMelSpectrogram, LogSpectrogram

__all__ = ["LogMelSpectrogram", "LogSpectrogram"]
