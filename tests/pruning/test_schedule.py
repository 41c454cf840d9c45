"""Schedules: cubic gradual pruning ending exactly at the final sparsity, GraNet's cosine decay."""

import math

import pytest
import torch

from prunelab.pruning import cosine_decay, cubic_schedule, cubic_sparsity, imp_density, update_steps


def test_update_steps():
    assert update_steps(0, 3000, 1000) == [0, 1000, 2000, 3000]
    assert update_steps(100, 3050, 1000) == [100, 1100, 2100]
    assert update_steps(5, 5, 10) == [5]
    with pytest.raises(ValueError):
        update_steps(0, 10, 0)
    with pytest.raises(ValueError):
        update_steps(10, 0, 1)


@pytest.mark.parametrize(
    ("start", "end", "frequency", "s_init", "s_final"),
    [(0, 10_000, 1000, 0.0, 0.9), (0, 10_500, 1000, 0.5, 0.98), (300, 7_777, 250, 0.2, 0.95)],
)
def test_cubic_schedule(start, end, frequency, s_init, s_final):
    schedule = cubic_schedule(start, end, frequency, s_init, s_final)
    steps = list(schedule)
    assert steps == update_steps(start, end, frequency)
    last = steps[-1]
    assert schedule[steps[0]] == s_init
    assert schedule[last] == s_final  # exactly, even when end is not an update step
    for t in steps:
        expected = s_final + (s_init - s_final) * (1 - (t - start) / (last - start)) ** 3
        assert schedule[t] == pytest.approx(expected, abs=1e-15)
    values = list(schedule.values())
    assert all(a <= b for a, b in zip(values, values[1:]))
    increments = [b - a for a, b in zip(values, values[1:])]
    assert all(a >= b - 1e-15 for a, b in zip(increments, increments[1:]))  # fast, then flat


def test_cubic_sparsity_outside_the_window_and_a_single_step():
    assert cubic_sparsity(-5, 0, 100, 0.1, 0.9) == 0.1
    assert cubic_sparsity(500, 0, 100, 0.1, 0.9) == 0.9
    assert cubic_sparsity(50, 0, 100, 0.0, 0.8) == pytest.approx(0.8 * (1 - 0.5**3))
    assert cubic_schedule(7, 7, 100, 0.0, 0.9) == {7: 0.9}


def test_cosine_decay_matches_granet_cosine_annealing():
    total = 400
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total, eta_min=0.005)
    for step in range(1, total + 1):
        optimizer.step()
        scheduler.step()
        assert cosine_decay(step, total) == pytest.approx(optimizer.param_groups[0]["lr"])
    assert cosine_decay(0, total) == 0.5
    assert cosine_decay(total, total) == pytest.approx(0.005)
    assert cosine_decay(10 * total, total) == pytest.approx(0.005)  # held, not climbing back
    assert cosine_decay(total // 2, total) == pytest.approx((0.5 + 0.005) / 2)


def test_imp_density():
    assert imp_density(0, 0.2) == 1.0
    assert [round(imp_density(level, 0.2), 4) for level in (1, 2, 3)] == [0.8, 0.64, 0.512]
    assert imp_density(8, 0.2) == pytest.approx(0.16777216)
    assert math.isclose(imp_density(11, 0.2), 0.0859, abs_tol=1e-4)
