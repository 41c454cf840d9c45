"""Schedules in epochs, turned into optimizer steps: Cubic equals Zhu & Gupta's formula at every
update step and ends exactly at the final sparsity; with `through_end` the same grid goes on to
the end of training; OneShot prunes once; schedules that do not fit in training are refused."""

import pytest

from prunelab.pruning.schedules import Cubic, OneShot


def zhu_gupta(t, t0, n, dt, s_i, s_f):
    """s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3, the paper's formula."""
    return s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3


@pytest.mark.parametrize(
    ("per_epoch", "epochs", "start", "end", "frequency", "s_i"),
    [(7, 10, 1, 8, 5, 0.0), (100, 4, 0, None, 30, 0.5), (13, 3, 2, 3, 1, 0.2)],
)
def test_cubic_is_zhu_gupta_at_every_update_step(per_epoch, epochs, start, end, frequency, s_i):
    schedule = Cubic(start, end, frequency, s_i, 0.9)
    targets = schedule.targets(per_epoch, epochs)
    t0 = start * per_epoch
    last_possible = min((end if end is not None else epochs) * per_epoch, epochs * per_epoch - 1)
    steps = list(range(t0, last_possible + 1, frequency))
    assert list(targets) == steps and list(schedule.steps(per_epoch, epochs)) == steps
    n = (steps[-1] - t0) // frequency  # pruning steps after the first: the curve ends at the last
    for k, t in enumerate(steps):
        expected = zhu_gupta(t, t0, n, frequency, s_i, 0.9) if n else 0.9
        assert targets[t] == pytest.approx(expected, abs=1e-12), t
        assert t0 + k * frequency == t
    assert targets[steps[0]] == (s_i if n else 0.9) and targets[steps[-1]] == 0.9
    assert all(a <= b for a, b in zip(targets.values(), list(targets.values())[1:]))


def test_through_end_continues_the_same_grid_to_the_last_step():
    schedule = Cubic(0, 2, 3, 0.0, 0.8, through_end=True)
    targets, steps = schedule.targets(4, 5), schedule.steps(4, 5)
    assert list(targets) == [0, 3, 6]  # the window: epochs 0-1 of 4 steps
    assert list(steps) == [0, 3, 6, 9, 12, 15, 18]  # on to the end, each before the last step
    assert list(steps)[: len(targets)] == list(targets)


def test_oneshot_prunes_once_at_the_first_step_of_its_epoch():
    schedule = OneShot(0.9, prune_at=2)
    assert schedule.targets(5, 4) == {10: 0.9}
    assert tuple(schedule.steps(5, 4)) == (10,)
    assert schedule.initial == 0.0 and OneShot(0.5).targets(5, 4) == {0: 0.5}


def test_schedules_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="prune_at=3 does not fit in trainer.max_epochs=3"):
        OneShot(0.9, prune_at=3).check(3)
    with pytest.raises(ValueError, match="start_epoch=4 does not fit"):
        Cubic(4, None, 1, 0.0, 0.9).check(4)
    with pytest.raises(ValueError, match="end_epoch=6 does not fit in trainer.max_epochs=5"):
        Cubic(0, 6, 1, 0.0, 0.9).check(5)
    Cubic(0, 5, 1, 0.0, 0.9).check(5)  # ends with training: fits
    OneShot(0.9, prune_at=3).check(None)  # unbounded training: nothing to check


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: OneShot(1.0), "sparsity=1.0"),
        (lambda: OneShot(0.5, prune_at=-1), "prune_at=-1"),
        (lambda: Cubic(0, None, 0, 0.0, 0.9), "frequency=0"),
        (lambda: Cubic(3, 2, 1, 0.0, 0.9), "end_epoch=2"),
        (lambda: Cubic(0, None, 1, -0.1, 0.9), "initial=-0.1"),
    ],
)
def test_bad_values_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()
