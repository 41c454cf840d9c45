"""Learning-rate schedules are exact functions of the optimizer step."""

import math

import pytest
import torch

from prunelab.optim import build_optimizer, build_scheduler, lr_factor


def test_multistep_by_fraction_epochs_and_steps():
    frac = lr_factor({"name": "multistep", "milestones": [0.5, 0.75], "gamma": 0.1}, 100)
    assert [frac(s) for s in (0, 49, 50, 74, 75, 99, 500)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01, 0.01]
    )
    epochs = {"name": "multistep", "milestones": [2], "milestones_in": "epochs", "gamma": 0.5}
    assert lr_factor(epochs, 100, steps_per_epoch=10)(19) == 1
    assert lr_factor(epochs, 100, steps_per_epoch=10)(20) == 0.5
    steps = {"name": "multistep", "milestones": [7], "milestones_in": "steps", "gamma": 0.5}
    assert lr_factor(steps, 100)(6) == 1 and lr_factor(steps, 100)(7) == 0.5


def test_warmup_rises_linearly_then_follows_the_schedule():
    f = lr_factor({"name": "cosine", "warmup_steps": 4}, 104)
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(54) == pytest.approx(0.5)  # half-way through the cosine after warmup
    assert f(104) == pytest.approx(0.0, abs=1e-12) and f(1000) == pytest.approx(0.0, abs=1e-12)


def test_cosine_floor_and_onecycle_shape():
    f = lr_factor({"name": "cosine", "min_lr_factor": 0.1}, 10)
    assert f(0) == 1.0 and f(10) == pytest.approx(0.1)
    g = lr_factor({"name": "onecycle", "pct_start": 0.5}, 10)
    values = [g(s) for s in range(11)]
    assert values[0] == pytest.approx(0.04) and max(values) == pytest.approx(1.0)
    assert values.index(max(values)) == 5 and values[-1] < 1e-3


def test_scheduler_follows_the_factor_and_can_be_positioned():
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model.parameters(), {"name": "sgd", "lr": 0.2, "nesterov": True})
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
    sched = build_scheduler(optimizer, {"name": "multistep", "milestones": [0.5]}, 10)
    for _ in range(5):
        optimizer.step()
        sched.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.02)


def test_adam_and_unknown_names():
    adam = build_optimizer([torch.nn.Parameter(torch.ones(1))], {"name": "adam", "lr": 1e-3})
    assert isinstance(adam, torch.optim.Adam)
    with pytest.raises(ValueError, match="sgd"):
        build_optimizer([], {"name": "lamb", "lr": 1})
    with pytest.raises(ValueError, match="cosine"):
        lr_factor({"name": "poly"}, 10)
    assert math.isclose(lr_factor({"name": "constant"}, 10)(99), 1.0)
