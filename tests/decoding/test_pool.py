"""The decode pool: forked once, reused by every call, restarted for new weights, closed on
`close()`, on a worker's error and by `with`; its outputs equal single-process decoding."""

import multiprocessing

import numpy as np
import pytest

from src.decoding import BeamSearchDecoder, FlashlightDecoder, LMBeamSearchDecoder
from src.decoding.pool import chunk_bounds
from tests.decoding.tiny_lm import ENCODER, frames_for, write_arpa


def noisy_utterances(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    words = ["red car", "rad car", "car", "red red car"]
    utterances = []
    for index in range(count):
        log_probs = frames_for(words[index % len(words)]) + rng.normal(0, 0.5, (1, len(ENCODER)))
        utterances.append(log_probs - np.logaddexp.reduce(log_probs, axis=1, keepdims=True))
    return [u.astype(np.float32) for u in utterances]


def workers() -> set[int]:
    return {process.pid for process in multiprocessing.active_children()}


DECODERS = {
    "hand-written": lambda lm, **pool: BeamSearchDecoder(ENCODER, beam_width=16, **pool),
    "pyctcdecode": lambda lm, **pool: LMBeamSearchDecoder(ENCODER, lm_path=lm, alpha=0.5, **pool),
    "flashlight": lambda lm, **pool: FlashlightDecoder(ENCODER, lm_path=lm, alpha=0.5, **pool),
}


@pytest.fixture
def arpa_path(tmp_path):
    return write_arpa(tmp_path / "tiny.arpa")


@pytest.mark.parametrize("name", DECODERS)
def test_pooled_outputs_equal_single_process_outputs(name, arpa_path):
    utterances = noisy_utterances(9)
    single = DECODERS[name](arpa_path)
    with DECODERS[name](arpa_path, num_processes=2) as pooled:
        assert pooled.decode_n_best(utterances, 3) == single.decode_n_best(utterances, 3)
        assert pooled.decode_utterances(utterances) == single.decode_utterances(utterances)
    assert not workers()


def test_the_pool_is_forked_once_and_serves_every_call(arpa_path):
    decoder = LMBeamSearchDecoder(ENCODER, lm_path=arpa_path, num_processes=2)
    assert not workers()  # started on first use
    decoder.decode_utterances(noisy_utterances(4))
    first = workers()
    assert len(first) == 2
    for _ in range(3):
        decoder.decode_utterances(noisy_utterances(5))
        assert workers() == first
    decoder.decode_utterances(noisy_utterances(1))  # one utterance: decoded here
    decoder.close()
    assert not workers()
    decoder.decode_utterances(noisy_utterances(4))  # a later call starts a new pool
    assert len(workers()) == 2
    decoder.close()


@pytest.mark.parametrize("name", ["pyctcdecode", "flashlight"])
def test_new_weights_reach_new_workers(name, arpa_path):
    utterances = noisy_utterances(8)
    single = DECODERS[name](arpa_path)
    with DECODERS[name](arpa_path, num_processes=2) as pooled:
        pooled.decode_utterances(utterances)
        before = workers()
        for decoder in (single, pooled):
            decoder.set_params(alpha=3.0, beta=-1.0)
        assert not workers()  # the old ones held the old weights
        assert pooled.decode_utterances(utterances) == single.decode_utterances(utterances)
        assert workers().isdisjoint(before)


def test_an_error_in_a_worker_reaches_the_caller_and_stops_the_pool(arpa_path):
    decoder = FlashlightDecoder(ENCODER, lm_path=arpa_path, num_processes=2)
    bad = [*noisy_utterances(3), np.zeros((4, 2, 3), dtype=np.float32)]  # not (T, C)
    with pytest.raises(ValueError):
        decoder.decode_utterances(bad)
    assert not workers()
    assert len(decoder.decode_utterances(noisy_utterances(3))) == 3
    decoder.close()


def test_chunks_cover_the_utterances_in_order():
    assert chunk_bounds(10, 4) == [(0, 2), (2, 5), (5, 8), (8, 10)]
    assert chunk_bounds(2, 8) == [(0, 1), (1, 2)]
    assert chunk_bounds(0, 3) == [(0, 0)]
