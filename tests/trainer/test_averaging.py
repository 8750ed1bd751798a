"""Weight averaging: the moving average's arithmetic, and the mean of state dicts."""

import pytest
import torch
from torch import nn

from src.trainer.averaging import ExponentialMovingAverage, average_state_dicts


def small_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_the_moving_average_follows_the_weights_by_its_decay():
    model = small_model(0)
    ema = ExponentialMovingAverage(model, decay=0.9)
    start = {name: value.clone() for name, value in model.state_dict().items()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    model.train()(torch.randn(8, 3))  # moves the batch norm statistics and its counter
    ema.update(model)
    after = model.state_dict()
    for name, value in ema.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.9 * start[name] + 0.1 * after[name])
        else:
            assert torch.equal(value, after[name])  # num_batches_tracked is copied


def test_applying_the_average_swaps_the_weights_in_and_back():
    model, other = small_model(0), small_model(1)
    ema = ExponentialMovingAverage(other, decay=0.5)
    own = {name: value.clone() for name, value in model.state_dict().items()}
    with ema.applied_to(model):
        assert all(torch.equal(model.state_dict()[n], v) for n, v in other.state_dict().items())
    assert all(torch.equal(model.state_dict()[n], v) for n, v in own.items())
    with pytest.raises(ValueError, match="ema_decay"):
        ExponentialMovingAverage(model, decay=1.0)


def test_state_dicts_average_their_floats_and_keep_the_newest_counters():
    states = [small_model(seed).state_dict() for seed in range(3)]
    averaged = average_state_dicts(states)
    for name, value in averaged.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(state[name] for state in states) / 3)
        else:
            assert torch.equal(value, states[-1][name])
    with pytest.raises(ValueError, match="other keys"):
        average_state_dicts([states[0], {"x": torch.zeros(1)}])
