from src.datasets.base_dataset import BaseDataset, collate_fn
from src.datasets.custom_dir import CustomDirDataset
from src.datasets.manifest import ManifestDataset
from src.datasets.synthetic import SyntheticDataset

__all__ = ["BaseDataset", "CustomDirDataset", "ManifestDataset", "SyntheticDataset", "collate_fn"]
