"""Length-bucketed batching: utterances of similar duration share a batch (less padding)."""

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffle, cut into pools of `pool_batches` batches, sort each pool by duration, batch it,
    and shuffle the order of all batches. A new arrangement every epoch, reproducible by seed."""

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
        self.durations = list(durations)
        self.batch_size = batch_size
        self.pool_size = batch_size * pool_batches
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        indices = list(range(len(self.durations)))
        rng.shuffle(indices)
        batches = []
        for start in range(0, len(indices), self.pool_size):
            pool = sorted(indices[start : start + self.pool_size], key=self.durations.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        count = 0
        for start in range(0, len(self.durations), self.pool_size):
            pool = min(self.pool_size, len(self.durations) - start)
            full, rest = divmod(pool, self.batch_size)
            count += full + (rest > 0 and not self.drop_last)
        return count
