import random

import pytest

from src.datasets.samplers import BucketBatchSampler


def padding_fraction(batches, durations):
    padded = sum(len(batch) * max(durations[i] for i in batch) for batch in batches)
    return 1 - sum(durations[i] for batch in batches for i in batch) / padded


@pytest.mark.parametrize("drop_last", [True, False])
def test_every_utterance_once_per_epoch_and_len_is_exact(drop_last):
    durations = [random.Random(i).uniform(1, 10) for i in range(1003)]
    sampler = BucketBatchSampler(durations, batch_size=16, pool_batches=10, drop_last=drop_last)
    for _ in range(2):
        batches = list(sampler)
        assert len(batches) == len(sampler)
        seen = [i for batch in batches for i in batch]
        assert len(seen) == len(set(seen))
        assert len(seen) == (1003 if not drop_last else len(batches) * 16)
        assert all(len(batch) == 16 for batch in batches) or not drop_last


def test_buckets_pad_less_than_random_batches_and_reshuffle_each_epoch():
    rng = random.Random(0)
    durations = [rng.uniform(1, 15) for _ in range(2000)]
    sampler = BucketBatchSampler(durations, batch_size=32, seed=3)
    first, second = list(sampler), list(sampler)
    order = list(range(2000))
    rng.shuffle(order)
    random_batches = [order[i : i + 32] for i in range(0, 2000 - 31, 32)]
    assert padding_fraction(first, durations) < 0.1 < padding_fraction(random_batches, durations)
    assert first != second
    assert list(BucketBatchSampler(durations, batch_size=32, seed=3)) == first
