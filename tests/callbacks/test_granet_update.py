"""GraNet's update path on hand-built examples: regrowth choice, zeros, initial masks, config."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from prunelab.callbacks.granet import GraNet
from prunelab.errors import ConfigError
from prunelab.models import resnet20
from prunelab.pruning.allocation import keep_total


def fake_trainer(optimizer=None, batches=4, epochs=2):
    """The few Trainer attributes the callback reads; broadcast is the identity (one rank)."""
    return SimpleNamespace(
        strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
        optimizers=[optimizer] if optimizer is not None else [],
        loggers=[],
        global_step=0,
        num_training_batches=batches,
        accumulate_grad_batches=1,
        max_epochs=epochs,
        sanity_checking=False,
        callback_metrics={},
    )


def start(callback, network, trainer):
    module = SimpleNamespace(network=network)
    callback.setup(trainer, module, "fit")
    callback.on_fit_start(trainer, module)
    callback.on_train_start(trainer, module)
    return module


def test_regrows_exactly_the_largest_gradients_among_inactive_positions():
    a, b = nn.Linear(5, 2, bias=False), nn.Linear(2, 3, bias=False)
    net = nn.Sequential(a, b)
    with torch.no_grad():  # distinct magnitudes: the drop order is unambiguous
        a.weight.copy_(torch.tensor([[0.9, -0.2, 0.7, 0.4, 0.6], [-0.3, 0.8, 0.5, 0.1, -0.55]]))
        b.weight.copy_(torch.tensor([[0.5, -0.15], [0.25, 0.35], [-0.45, 0.65]]))
    # 6 of 16 kept = sparsity 0.6: the cubic step (constant at 0.6) changes nothing.
    masks = {
        "0.weight": torch.tensor([[1, 1, 0, 0, 0], [0, 1, 0, 1, 0]], dtype=torch.bool),
        "1.weight": torch.tensor([[1, 0], [0, 0], [0, 1]], dtype=torch.bool),
    }
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    cb = GraNet(0.6, initial_density=0.4, frequency=2, regrow_fraction=0.5, regrow_fraction_min=0.5)
    cb.masks = {n: m.clone() for n, m in masks.items()}  # as if restored: no random start
    trainer = fake_trainer(optimizer)
    module = start(cb, net, trainer)
    # Gradients: the largest |grad| sits on an active weight, which must not count.
    a.weight.grad = torch.tensor([[5.0, 0.1, 0.3, 2.0, 0.2], [0.7, 9.0, 1.5, 0.4, 3.0]])
    b.weight.grad = torch.tensor([[0.2, 0.9], [-1.2, 0.3], [0.05, 4.0]])
    for p in net.parameters():  # stale momentum everywhere, as after a buggy step
        optimizer.state[p]["momentum_buffer"] = torch.ones_like(p)
    trainer.global_step = 1
    cb.on_before_optimizer_step(trainer, module, optimizer)  # step 2 is an update step
    trainer.global_step = 2
    cb.on_train_batch_end(trainer, module, None, None, 1)

    # Layer a: active |w| 0.9, 0.2, 0.8, 0.1 -> ceil(0.5 * 4) = 2 dropped: 0.2 (0,1), 0.1 (1,3).
    # Inactive after the drop: (0,1) (0,2) (0,3) (0,4) (1,0) (1,2) (1,3) (1,4); the two largest
    # |grad| there: 3.0 at (1,4) and 2.0 at (0,3). Layer b: drop 1 of |w| 0.5, 0.65 -> (0,0);
    # the largest |grad| among (0,0) (0,1) (1,0) (1,1) (2,0) is 1.2 at (1,0).
    expect_a = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1]], dtype=torch.bool)
    expect_b = torch.tensor([[0, 0], [1, 0], [0, 1]], dtype=torch.bool)
    assert torch.equal(cb.masks["0.weight"], expect_a)
    assert torch.equal(cb.masks["1.weight"], expect_b)
    for name, param in (("0.weight", a.weight), ("1.weight", b.weight)):
        grown = cb.masks[name] & ~masks[name]
        kept = cb.masks[name] & masks[name]
        assert int(cb.masks[name].sum()) == int(masks[name].sum())  # count unchanged
        assert torch.all(param[grown] == 0)  # regrown weights start at zero ...
        assert torch.all(optimizer.state[param]["momentum_buffer"][grown] == 0)  # ... and still
        assert torch.all(optimizer.state[param]["momentum_buffer"][kept] == 1)  # kept: untouched
        assert torch.all(param[~cb.masks[name]] == 0)
    assert torch.equal(a.weight[expect_a & masks["0.weight"]], torch.tensor([0.9, 0.8]))
    assert cb.regrown_total == 3 and cb.regrow_fraction_now == 0.5


def test_step_zero_prunes_without_regrowth_and_needs_no_gradient():
    net = nn.Sequential(nn.Linear(8, 8, bias=False))
    # start_epoch 0 with a one-step window: the whole cubic schedule is the step-0 prune
    cb = GraNet(0.75, frequency=100, regrow_fraction=0.5)
    trainer = fake_trainer(batches=4, epochs=1)
    module = start(cb, net, trainer)
    cb.on_train_batch_start(trainer, module, None, 0)
    assert int(cb.masks["0.weight"].sum()) == 16 and cb.regrown_total == 0


def test_missing_gradient_at_an_update_is_an_error():
    net = nn.Sequential(nn.Linear(4, 4, bias=False))
    cb = GraNet(0.5, frequency=2)
    trainer = fake_trainer()
    module = start(cb, net, trainer)
    trainer.global_step = 2  # no on_before_optimizer_step ran for this step
    with pytest.raises(RuntimeError, match="no gradient"):
        cb.on_train_batch_end(trainer, module, None, None, 1)


def test_erk_initial_masks_follow_the_formula():
    net = resnet20()
    cb = GraNet(0.9, initial_density=0.5, distribution="erk", seed=3)
    start(cb, net, fake_trainer())
    shapes = {n: tuple(m.shape) for n, m in cb.masks.items()}
    numel = {n: math.prod(s) for n, s in shapes.items()}
    counts = {n: int(m.sum()) for n, m in cb.masks.items()}
    assert sum(counts.values()) == keep_total(sum(numel.values()), 0.5)
    dense = {n for n in shapes if counts[n] == numel[n]}
    free = [n for n in shapes if n not in dense]
    assert dense and free  # at 50% ERK makes the stem and the classifier dense
    # eps from the sparse layers; every sparse layer keeps eps * (sum of dims), within rounding,
    # and that density is <= 1; a dense layer is one whose ERK density would exceed 1.
    eps = sum(counts[n] for n in free) / sum(sum(shapes[n]) for n in free)
    for n in free:
        assert abs(counts[n] - eps * sum(shapes[n])) < 1.0
        assert eps * sum(shapes[n]) / numel[n] <= 1.0
    for n in dense:
        assert eps * sum(shapes[n]) / numel[n] > 1.0 - 1e-9


def test_uniform_initial_masks_and_seeds():
    net = resnet20()
    cb = GraNet(0.9, initial_density=0.3, distribution="uniform", seed=1)
    start(cb, net, fake_trainer())
    for mask in cb.masks.values():
        assert abs(int(mask.sum()) - 0.3 * mask.numel()) < 1.0
    again = GraNet(0.9, initial_density=0.3, distribution="uniform", seed=1)
    other = GraNet(0.9, initial_density=0.3, distribution="uniform", seed=2)
    start(again, resnet20(), fake_trainer())
    start(other, resnet20(), fake_trainer())
    assert all(torch.equal(cb.masks[n], again.masks[n]) for n in cb.masks)
    assert not all(torch.equal(cb.masks[n], other.masks[n]) for n in cb.masks)


def test_regrow_fraction_decays_by_cosine_to_the_floor():
    cb = GraNet(0.9, regrow_fraction=0.5, regrow_fraction_min=0.005)
    cb.total_steps = 1000
    assert cb.regrow_fraction_at(0) == 0.5
    assert cb.regrow_fraction_at(500) == pytest.approx(0.2525)
    assert cb.regrow_fraction_at(1000) == pytest.approx(0.005)
    off = GraNet(0.9, regrow_fraction=0.0)  # the floor never lifts r above r0
    off.total_steps = 1000
    assert off.regrow_fraction_at(500) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"allocation": "erk"}, "pruning.allocation"),
        ({"distribution": "random"}, "pruning.distribution"),
        ({"initial_density": 0.05}, "pruning.initial_density"),
        ({"initial_density": 1.5}, "pruning.initial_density"),
        ({"regrow_fraction": 1.5}, "pruning.regrow_fraction"),
        ({"regrow_fraction_min": -0.1}, "pruning.regrow_fraction_min"),
        ({"frequency": 0}, "pruning.frequency"),
    ],
)
def test_bad_values_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GraNet(0.9, **kwargs)


def test_window_must_fit_in_training():
    with pytest.raises(ConfigError, match="end_epoch"):
        GraNet(0.9, end_epoch=110).check_plan(100)
    with pytest.raises(ConfigError, match="start_epoch"):
        GraNet(0.9, start_epoch=5).check_plan(5)
