"""Does the utterance index scale to LibriSpeech 960 h? Build and load time, and the host memory
each DataLoader worker adds, for the compact index against a list of dicts, in one run.

    python -m bench.index [--entries 281241] [--workers 0 4 8]

It generates a LibriSpeech-shaped index (ids, paths, ~34-word transcripts, durations, speakers;
no audio is needed for the index itself), writes it in the corpora's cached `index.json`
format, loads it into a dataset, then reads every entry once through a DataLoader with 0, 4
and 8 workers, each of which first reads every entry (as it will have after a few epochs of
random batches), and measures each worker's private memory (Private_Clean + Private_Dirty in
/proc/<pid>/smaps_rollup): what it copied of the parent's pages. The list-of-dicts rows hold
the same entries as the index stored before (a Python list of dicts).
"""

import argparse
import random
import resource
import time
import warnings
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
from torch.utils.data import DataLoader, Dataset

from src.datasets.base_dataset import BaseDataset
from src.datasets.preparation import cached_index
from src.text_encoder import CTCCharTextEncoder

LIBRISPEECH_960H = 281_241
WORDS = ["the", "of", "and", "to", "a", "in", "that", "he", "was", "it", "his", "with", "had"]
WORDS += [stem + suffix for stem in ("know", "light", "call", "stand") for suffix in ("s", "ed")]


def librispeech_like(root: Path, count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    entries = []
    for number in range(count):
        speaker, chapter = 19 + number // 120, 198 + number // 40
        utterance_id = f"{speaker}-{chapter}-{number % 40:04d}"
        entries.append(
            {
                "id": utterance_id,
                "path": str(root / f"train-other-500/{speaker}/{chapter}/{utterance_id}.flac"),
                "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 64))).upper(),
                "duration": rng.uniform(1.0, 23.6),  # mean 12.3 s, like 960 h / 281,241
                "speaker": str(speaker),
            }
        )
    return entries


class EntryReader(Dataset):
    """Reads index entries only (what a worker touches before it opens any audio)."""

    def __init__(self, index) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> int:
        entry = self.index[position]
        return len(entry["text"]) + len(entry["path"])


def private_mb(pid: int) -> float:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    return (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024


def read_every_entry(worker_id: int) -> None:
    """A worker's state after many epochs of random batches: it has read every entry."""
    reader = torch.utils.data.get_worker_info().dataset
    for position in range(len(reader)):
        reader[position]


def worker_memory(index, workers: int) -> tuple[float, float]:
    """(mean private MB per worker once each has read every entry, seconds for one pass)."""
    loader = DataLoader(
        EntryReader(index),
        batch_size=256,
        num_workers=workers,
        persistent_workers=workers > 0,
        worker_init_fn=read_every_entry if workers else None,
    )
    start = time.perf_counter()
    batches = iter(loader)
    total = sum(int(batch.sum()) for batch in batches)
    seconds = time.perf_counter() - start
    assert total > 0
    if workers == 0:
        return 0.0, seconds
    usage = [private_mb(process.pid) for process in batches._workers]
    del batches
    return sum(usage) / len(usage), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=LIBRISPEECH_960H)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 4, 8])
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    with TemporaryDirectory() as folder:
        index_path = Path(folder) / "index.json"
        start = time.perf_counter()
        entries = cached_index(index_path, [], lambda: librispeech_like(Path(folder), args.entries))
        built = time.perf_counter() - start
        start = time.perf_counter()
        entries = cached_index(index_path, [], lambda: [])  # the cached file, as a rerun reads it
        dataset = BaseDataset(entries, CTCCharTextEncoder())
        loaded = time.perf_counter() - start
        size_mb = index_path.stat().st_size / 2**20
    del entries
    compact_mb = dataset._index.nbytes / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.entries:,} entries: index.json {size_mb:.0f} MB, built + written in {built:.1f} s,"
    )
    print(f"read into a dataset in {loaded:.1f} s; compact arrays {compact_mb:.0f} MB")
    print(f"main process peak RSS {peak_mb:.0f} MB\n")
    storages = {
        "compact index (numpy columns)": dataset._index,
        "list of dicts (before)": list(dataset._index),
    }
    print("| index | workers | private MB per worker | seconds for one pass |")
    print("|---|---:|---:|---:|")
    for name, index in storages.items():
        for workers in args.workers:
            memory, seconds = worker_memory(index, workers)
            print(f"| {name} | {workers} | {memory:.0f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
