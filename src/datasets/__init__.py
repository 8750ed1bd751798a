from src.datasets.an4 import AN4Dataset
from src.datasets.base_dataset import BaseDataset, collate_fn
from src.datasets.common_voice import CommonVoiceDataset
from src.datasets.custom_dir import CustomDirDataset
from src.datasets.librispeech import LibriSpeechDataset
from src.datasets.ljspeech import LJSpeechDataset
from src.datasets.manifest import ManifestDataset
from src.datasets.synthetic import SyntheticDataset

__all__ = [
    "AN4Dataset",
    "BaseDataset",
    "CommonVoiceDataset",
    "CustomDirDataset",
    "LJSpeechDataset",
    "LibriSpeechDataset",
    "ManifestDataset",
    "SyntheticDataset",
    "collate_fn",
]
