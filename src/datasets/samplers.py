"""Length-bucketed batching: utterances of similar duration share a batch (less padding).

Both samplers shuffle the utterances, cut them into pools, sort each pool by duration, split
it into batches and shuffle the order of all batches: a new arrangement every pass (epoch),
reproducible by seed. They differ in how a sorted pool is split.
"""

import random
import statistics
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class PooledBatchSampler(Sampler[list[int]], ABC):
    """Shuffled pools of `pool_size` utterances, each sorted by duration and `split`."""

    def __init__(self, durations: Sequence[float], pool_size: int, seed: int = 0) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be positive")
        self.durations = list(durations)
        self.pool_size = pool_size
        self.seed = seed
        self.epoch = 0  # the pass the next `iter()` arranges
        self._arranged: tuple[int, list[list[int]]] | None = None

    @abstractmethod
    def split(self, pool: list[int]) -> list[list[int]]:
        """Batches from one pool of utterance indices sorted by increasing duration."""

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches of pass `epoch` (computed once per pass)."""
        if self._arranged is None or self._arranged[0] != epoch:
            rng = random.Random(f"{self.seed}-{epoch}")
            indices = list(range(len(self.durations)))
            rng.shuffle(indices)
            batches = []
            for start in range(0, len(indices), self.pool_size):
                pool = indices[start : start + self.pool_size]
                batches += self.split(sorted(pool, key=self.durations.__getitem__))
            rng.shuffle(batches)
            self._arranged = epoch, batches
        return self._arranged[1]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches(self.epoch)
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        """Batches in the next pass."""
        return len(self.batches(self.epoch))


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
        """The same every pass: full batches per pool (plus partial ones without `drop_last`)."""
        count = 0
        for start in range(0, len(self.durations), self.pool_size):
            pool = min(self.pool_size, len(self.durations) - start)
            full, rest = divmod(pool, self.batch_size)
            count += full + (rest > 0 and not self.drop_last)
        return count


class DynamicBatchSampler(PooledBatchSampler):
    """Batches capped by padded audio: size x longest utterance <= `max_batch_seconds` (and at
    most `max_batch_size` utterances when set), so short utterances travel in large batches.

    Each sorted pool is filled greedily, shortest first; a pool holds about `pool_batches`
    batches' worth of audio. An utterance longer than the cap is an error (filter it out with
    the dataset's `max_duration`). The count of batches varies slightly from pass to pass:
    `len()` is exact for the next pass.
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
