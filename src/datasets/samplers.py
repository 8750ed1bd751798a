"""Training batch samplers that can resume exactly, and length-bucketed batching.

A sampler arranges the batches of each pass (epoch) from `random.Random(f"{seed}-{pass}")`
alone and serves them as lists of `ItemKey`s: a dataset position with the seed and pass that
the item's own random draws (its waveform augmentations) derive from, so what a loader worker
makes of an item depends on nothing but (seed, pass, index). Its state is the pass and the
position (batches already consumed) that `iter()` serves from: `state_dict()`,
`load_state_dict()`, `set_pass(n)`. Iterating changes nothing (a DataLoader may call `iter()`
more than once per pass): the caller moves to the next pass with `set_pass`, as
`src.datasets.loaders.BatchStream` does. `ShuffledBatchSampler` makes plain shuffled batches; the
pooled samplers shuffle the utterances, cut them into pools, sort each pool by duration, split
it into batches (utterances of similar duration share a batch: less padding) and shuffle the
order of all batches. They differ in how a sorted pool is split.

Under torchrun, `shard(rank, world_size)` makes a sampler serve one rank's part: every rank
arranges the same batches of a pass (the same seed), drops the last `len % world_size` of them
and takes every `world_size`-th from its rank on. So each pass every rank gets the same number
of batches, disjoint from the others', and the position counts this rank's batches.
"""

import random
import statistics
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from torch.utils.data import Sampler


class ItemKey(NamedTuple):
    """A dataset position as a training sampler hands it out, with what its random draws come
    from (`BaseDataset.__getitem__` accepts it or a plain position)."""

    index: int
    seed: int = 0
    pass_index: int = 0

    def rng(self) -> random.Random:
        """The item's generator: a function of (seed, pass, index) only."""
        return random.Random(f"{self.seed}-{self.pass_index}-{self.index}")


class ResumableBatchSampler(Sampler[list[ItemKey]], ABC):
    """Batches arranged anew each pass, reproducible by seed; `iter()` serves pass
    `pass_index` from batch `position` on."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.pass_index = 0  # the pass `iter()` serves
        self.position = 0  # batches of it already consumed: `iter()` skips them
        self.rank, self.world_size = 0, 1
        self._arranged: tuple[int, list[list[int]]] | None = None

    def shard(self, rank: int, world_size: int) -> "ResumableBatchSampler":
        """Serve rank `rank`'s share of every pass (see the module's docstring)."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of world size {world_size} is not a rank")
        self.rank, self.world_size, self._arranged = rank, world_size, None
        return self

    @abstractmethod
    def arrange(self, rng: random.Random) -> list[list[int]]:
        """The batches (lists of dataset positions) of one pass, drawn from `rng` only."""

    def batches(self, pass_index: int) -> list[list[int]]:
        """This rank's batches of pass `pass_index` (computed once per pass)."""
        if self._arranged is None or self._arranged[0] != pass_index:
            arranged = self.arrange(random.Random(f"{self.seed}-{pass_index}"))
            end = len(arranged) - len(arranged) % self.world_size
            self._arranged = pass_index, arranged[self.rank : end : self.world_size]
        return self._arranged[1]

    def set_pass(self, pass_index: int) -> None:
        """Serve pass `pass_index` from its first batch."""
        self.load_state_dict({"pass": pass_index, "position": 0})

    def state_dict(self) -> dict[str, int]:
        return {"pass": self.pass_index, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["pass"] < 0 or state["position"] < 0:
            raise ValueError(f"sampler state must not be negative, got {state}")
        self.pass_index, self.position = state["pass"], state["position"]

    def __iter__(self) -> Iterator[list[ItemKey]]:
        pass_index, served = self.pass_index, self.batches(self.pass_index)[self.position :]
        return iter([[ItemKey(i, self.seed, pass_index) for i in batch] for batch in served])

    def __len__(self) -> int:
        """Batches in a whole pass (the current one)."""
        return len(self.batches(self.pass_index))


class ShuffledBatchSampler(ResumableBatchSampler):
    """Batches of `batch_size` utterances in a random order; `drop_last` drops the incomplete
    last batch."""

    def __init__(self, size: int, batch_size: int, drop_last: bool = True, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        super().__init__(seed)
        self.size = size
        self.batch_size = batch_size
        self.drop_last = drop_last

    def arrange(self, rng: random.Random) -> list[list[int]]:
        order = list(range(self.size))
        rng.shuffle(order)
        end = self.size - self.size % self.batch_size if self.drop_last else self.size
        return [order[i : i + self.batch_size] for i in range(0, end, self.batch_size)]


class PooledBatchSampler(ResumableBatchSampler, ABC):
    """Shuffled pools of `pool_size` utterances, each sorted by duration and `split`."""

    def __init__(self, durations: Sequence[float], pool_size: int, seed: int = 0) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be positive")
        super().__init__(seed)
        self.durations = list(durations)
        self.pool_size = pool_size

    @abstractmethod
    def split(self, pool: list[int]) -> list[list[int]]:
        """Batches from one pool of utterance indices sorted by increasing duration."""

    def arrange(self, rng: random.Random) -> list[list[int]]:
        indices = list(range(len(self.durations)))
        rng.shuffle(indices)
        batches = []
        for start in range(0, len(indices), self.pool_size):
            pool = indices[start : start + self.pool_size]
            batches += self.split(sorted(pool, key=self.durations.__getitem__))
        rng.shuffle(batches)
        return batches


class BucketBatchSampler(PooledBatchSampler):
    """Batches of `batch_size` utterances; pools hold `pool_batches` batches. `drop_last` drops
    each pool's incomplete last batch."""

    def __init__(
        self,
        durations: Sequence[float],
        batch_size: int,
        pool_batches: int = 50,
        drop_last: bool = True,
        seed: int = 0,
    ) -> None:
        if batch_size < 1 or pool_batches < 1:
            raise ValueError("batch_size and pool_batches must be positive")
        super().__init__(durations, batch_size * pool_batches, seed)
        self.batch_size = batch_size
        self.drop_last = drop_last

    def split(self, pool: list[int]) -> list[list[int]]:
        batches = [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __len__(self) -> int:
        """The same every pass: full batches per pool (plus partial ones without `drop_last`),
        this rank's share."""
        count = 0
        for start in range(0, len(self.durations), self.pool_size):
            pool = min(self.pool_size, len(self.durations) - start)
            full, rest = divmod(pool, self.batch_size)
            count += full + (rest > 0 and not self.drop_last)
        return count // self.world_size


class DynamicBatchSampler(PooledBatchSampler):
    """Batches capped by padded audio: size x longest utterance <= `max_batch_seconds` (and at
    most `max_batch_size` utterances when set), so short utterances travel in large batches.

    Each sorted pool is filled greedily, shortest first; a pool holds about `pool_batches`
    batches' worth of audio. An utterance longer than the cap is an error (filter it out with
    the dataset's `max_duration`). The count of batches varies slightly from pass to pass:
    `len()` is exact for the current pass.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        max_batch_size: int | None = None,
        pool_batches: int = 50,
        seed: int = 0,
    ) -> None:
        if (
            max_batch_seconds <= 0
            or pool_batches < 1
            or (max_batch_size is not None and max_batch_size < 1)
        ):
            raise ValueError("max_batch_seconds, max_batch_size and pool_batches must be positive")
        too_long = [duration for duration in durations if duration > max_batch_seconds]
        if too_long:
            raise ValueError(
                f"{len(too_long)} utterances are longer than max_batch_seconds="
                f"{max_batch_seconds:g} (longest {max(too_long):.1f} s): set the dataset's "
                "max_duration or raise max_batch_seconds"
            )
        mean_duration = statistics.fmean(durations) if durations else max_batch_seconds
        pool_size = max(1, round(pool_batches * max_batch_seconds / mean_duration))
        super().__init__(durations, pool_size, seed)
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size

    def split(self, pool: list[int]) -> list[list[int]]:
        batches: list[list[int]] = []
        batch: list[int] = []
        for index in pool:  # increasing durations: the newcomer is the batch's longest
            padded = (len(batch) + 1) * self.durations[index]
            if batch and (padded > self.max_batch_seconds or len(batch) == self.max_batch_size):
                batches.append(batch)
                batch = []
            batch.append(index)
        if batch:
            batches.append(batch)
        return batches
