import pickle
import random

import pytest

from src.datasets.samplers import (
    BucketBatchSampler,
    DynamicBatchSampler,
    ItemKey,
    PooledBatchSampler,
    ResumableBatchSampler,
    ShuffledBatchSampler,
)


def next_pass(sampler: ResumableBatchSampler) -> list[list[int]]:
    """The dataset positions of the batches the sampler serves, then it moves to the next
    pass (what `BatchStream` does)."""
    batches = [[key.index for key in batch] for batch in sampler]
    sampler.set_pass(sampler.pass_index + 1)
    return batches


def padding_fraction(batches, durations):
    padded = sum(len(batch) * max(durations[i] for i in batch) for batch in batches)
    return 1 - sum(durations[i] for batch in batches for i in batch) / padded


@pytest.mark.parametrize("drop_last", [True, False])
def test_every_utterance_once_per_epoch_and_len_is_exact(drop_last):
    durations = [random.Random(i).uniform(1, 10) for i in range(1003)]
    sampler = BucketBatchSampler(durations, batch_size=16, pool_batches=10, drop_last=drop_last)
    for _ in range(2):
        expected_len = len(sampler)
        batches = next_pass(sampler)
        assert len(batches) == expected_len
        seen = [i for batch in batches for i in batch]
        assert len(seen) == len(set(seen))
        assert len(seen) == (1003 if not drop_last else len(batches) * 16)
        assert all(len(batch) == 16 for batch in batches) or not drop_last


def test_buckets_pad_less_than_random_batches_and_reshuffle_each_epoch():
    rng = random.Random(0)
    durations = [rng.uniform(1, 15) for _ in range(2000)]
    sampler = BucketBatchSampler(durations, batch_size=32, seed=3)
    first, second = next_pass(sampler), next_pass(sampler)
    order = list(range(2000))
    rng.shuffle(order)
    random_batches = [order[i : i + 32] for i in range(0, 2000 - 31, 32)]
    assert padding_fraction(first, durations) < 0.1 < padding_fraction(random_batches, durations)
    assert first != second
    assert next_pass(BucketBatchSampler(durations, batch_size=32, seed=3)) == first


def test_bucket_batches_are_reproducible_by_seed_and_differ_across_seeds():
    durations = [random.Random(i).uniform(1, 10) for i in range(500)]
    first = next_pass(BucketBatchSampler(durations, batch_size=8, seed=1))
    assert first == next_pass(BucketBatchSampler(durations, batch_size=8, seed=1))
    assert first != next_pass(BucketBatchSampler(durations, batch_size=8, seed=2))


def padded_seconds(batch, durations):
    return len(batch) * max(durations[i] for i in batch)


def test_dynamic_batches_respect_the_cap_and_cover_every_utterance_once():
    rng = random.Random(0)
    durations = [rng.uniform(0.5, 16) for _ in range(3000)]
    sampler = DynamicBatchSampler(durations, max_batch_seconds=120, pool_batches=20, seed=5)
    arrangements = []
    for _ in range(3):
        expected_len = len(sampler)
        batches = next_pass(sampler)
        assert len(batches) == expected_len
        assert sorted(i for batch in batches for i in batch) == list(range(3000))
        assert all(padded_seconds(batch, durations) <= 120 for batch in batches)
        arrangements.append(batches)
    assert arrangements[0] != arrangements[1] != arrangements[2]
    again = DynamicBatchSampler(durations, max_batch_seconds=120, pool_batches=20, seed=5)
    assert next_pass(again) == arrangements[0] and next_pass(again) == arrangements[1]
    assert padding_fraction(arrangements[0], durations) < 0.1
    sizes = {len(batch): max(durations[i] for i in batch) for batch in arrangements[0]}
    assert max(sizes) >= 7 * min(sizes)  # short utterances travel in much larger batches
    assert sizes[max(sizes)] < sizes[min(sizes)]


def test_dynamic_batches_fill_up_to_the_cap():
    durations = [1.0] * 10 + [3.0] * 4
    batches = next_pass(DynamicBatchSampler(durations, max_batch_seconds=4, pool_batches=100))
    assert sorted(map(len, batches)) == [1, 1, 1, 1, 2, 4, 4]
    capped = DynamicBatchSampler([1.0] * 10, max_batch_seconds=4, max_batch_size=3)
    assert sorted(map(len, next_pass(capped))) == [1, 3, 3, 3]


def test_dynamic_batches_reject_utterances_longer_than_the_cap():
    with pytest.raises(
        ValueError, match=r"2 utterances are longer than max_batch_seconds=10.*12\.0"
    ):
        DynamicBatchSampler([1.0, 11.0, 12.0], max_batch_seconds=10)


def test_a_zero_batch_size_cap_is_an_error_and_the_pooled_base_is_abstract():
    with pytest.raises(ValueError, match="must be positive"):
        DynamicBatchSampler([1.0] * 10, max_batch_seconds=100, max_batch_size=0)
    with pytest.raises(TypeError, match="abstract"):
        PooledBatchSampler([1.0] * 10)


SAMPLERS = [
    lambda: ShuffledBatchSampler(50, batch_size=4, seed=7),
    lambda: BucketBatchSampler([random.Random(i).uniform(1, 9) for i in range(50)], 4, seed=7),
    lambda: DynamicBatchSampler([random.Random(i).uniform(1, 9) for i in range(50)], 20, seed=7),
]


@pytest.mark.parametrize("make", SAMPLERS, ids=["shuffled", "bucket", "dynamic"])
def test_a_sampler_resumes_at_its_pass_and_position(make):
    """Iterating changes nothing (a DataLoader may call iter() twice); a fresh sampler loaded
    with (pass, position) serves exactly the batches the first one had left."""
    sampler = make()
    passes = [list(sampler) for _ in range(2)]
    assert passes[0] == passes[1]  # no side effect
    sampler.set_pass(3)
    third = list(sampler)
    assert third != passes[0]
    assert all(key.pass_index == 3 and key.seed == 7 for batch in third for key in batch)
    resumed = make()
    resumed.load_state_dict({"pass": 3, "position": 5})
    assert resumed.state_dict() == {"pass": 3, "position": 5}
    assert list(resumed) == third[5:]
    with pytest.raises(ValueError, match="must not be negative"):
        resumed.load_state_dict({"pass": 0, "position": -1})


def test_shuffled_batches_cover_the_data_once_and_drop_the_incomplete_one():
    batches = next_pass(ShuffledBatchSampler(10, batch_size=3))
    assert [len(batch) for batch in batches] == [3, 3, 3]
    assert len({i for batch in batches for i in batch}) == 9
    kept = next_pass(ShuffledBatchSampler(10, batch_size=3, drop_last=False))
    assert sorted(i for batch in kept for i in batch) == list(range(10))


def test_an_item_key_draws_from_seed_pass_and_index_only():
    key = ItemKey(index=4, seed=1, pass_index=2)
    again = pickle.loads(pickle.dumps(key))  # as it travels to a loader worker
    assert key.rng().random() == again.rng().random()
    others = [ItemKey(5, 1, 2), ItemKey(4, 2, 2), ItemKey(4, 1, 3)]
    assert len({k.rng().random() for k in [key, *others]}) == 4


@pytest.mark.parametrize("make", SAMPLERS, ids=["shuffled", "bucket", "dynamic"])
@pytest.mark.parametrize("world_size", [2, 3])
def test_sharded_samplers_give_ranks_equal_disjoint_deterministic_batches(make, world_size):
    """Every rank: the same number of batches each pass (len() exact), none shared, together
    the pass's batches less at most world_size - 1; the same shards from a fresh sampler."""
    whole = make()
    for pass_index in range(3):
        whole.set_pass(pass_index)
        everything = [[key.index for key in batch] for batch in whole]
        shards = []
        for rank in range(world_size):
            sampler = make().shard(rank, world_size)
            sampler.set_pass(pass_index)
            assert len(sampler) == len(everything) // world_size
            shards.append(next_pass(sampler))
        assert {len(shard) for shard in shards} == {len(everything) // world_size}
        served = [batch for shard in shards for batch in shard]
        indices = [index for batch in served for index in batch]
        assert len(indices) == len(set(indices))  # disjoint
        assert sorted(served) == sorted(everything[: len(served)])
        again = make().shard(1, world_size)
        again.set_pass(pass_index)
        assert next_pass(again) == shards[1]


@pytest.mark.parametrize("make", SAMPLERS, ids=["shuffled", "bucket", "dynamic"])
def test_a_sharded_sampler_resumes_at_its_pass_and_position(make):
    sampler = make().shard(1, 2)
    sampler.set_pass(2)
    served = list(sampler)
    resumed = make().shard(1, 2)
    resumed.load_state_dict({"pass": 2, "position": 3})
    assert list(resumed) == served[3:]


def test_a_rank_outside_the_world_is_an_error():
    with pytest.raises(ValueError, match="is not a rank"):
        ShuffledBatchSampler(10, 2).shard(2, 2)
