"""The embedded offline corpus: eSpeak NG speech generated on first use (see synthesis/)."""

from pathlib import Path
from typing import Any

from src.datasets.manifest import ManifestDataset
from src.datasets.synthesis import ensure_corpus

PARTS = ("train", "val", "test")


class SyntheticDataset(ManifestDataset):
    """One split of the synthetic corpus under `root`, generated there if missing."""

    def __init__(
        self,
        part: str,
        root: str | Path = "data/synthetic",
        corpus_seed: int = 0,
        n_train: int = 3000,
        n_val: int = 200,
        n_test: int = 200,
        num_workers: int = 2,
        **kwargs: Any,
    ) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        root = Path(root)
        ensure_corpus(
            root,
            seed=corpus_seed,
            n_train=n_train,
            n_val=n_val,
            n_test=n_test,
            num_workers=num_workers,
        )
        super().__init__(root / f"{part}.jsonl", root=root, **kwargs)
