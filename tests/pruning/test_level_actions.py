"""LevelRewind, IMP's and SAP's after-pruning action, checked against independent records: a
weight rewind restores the state recorded at step K bit for bit (BN statistics included); the LR
rewind puts a scheduler where a fresh one stands after K steps; `none` keeps weights, momentum
and LR; random_reinit is `reinitialize` from the level's seed; random_prune keeps each layer's
count at active positions; the snapshot and seed survive a state_dict; bad settings are refused."""

import copy

import pytest
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning import rewind as rw
from prunelab.pruning.actions import LevelRewind, level_seed


def network():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def train(net, steps, optimizer, scheduler):
    """`steps` SGD steps on fixed data, the scheduler stepped after each."""
    torch.manual_seed(1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        scheduler.step()


def test_weight_rewind_restores_the_state_of_step_k_bit_for_bit():
    net = network()
    action = LevelRewind("step:3")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    torch.manual_seed(1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    reference = None
    for step in range(6):
        if action.snapshot_due(0, step):
            action.take_snapshot(net)
            reference = copy.deepcopy(net.state_dict())
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    assert not action.snapshot_due(0, 3) and not action.snapshot_due(1, 3)
    action.weights(net, 1)
    for key, value in reference.items():  # running_mean / running_var included
        assert torch.equal(net.state_dict()[key], value), key
    assert action.spec() == "step:3"


def lambda_setup(net):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.5 ** (t // 2))


@pytest.mark.parametrize("spec, k", [("lr", 0), ("lr:5", 5), ("init", 0), ("step:3", 3)])
def test_lr_rewind_puts_the_schedule_where_a_fresh_one_is_after_k_steps(spec, k):
    net = network()
    optimizer, scheduler = lambda_setup(net)
    train(net, 8, optimizer, scheduler)
    fresh_net = network()
    fresh_opt, fresh_sched = lambda_setup(fresh_net)
    for _ in range(k):
        fresh_opt.step()
        fresh_sched.step()
    weights = copy.deepcopy(net.state_dict())
    LevelRewind(spec).schedules([optimizer], [(scheduler, "step")], steps_per_epoch=4)
    assert optimizer.param_groups[0]["lr"] == fresh_opt.param_groups[0]["lr"]
    assert scheduler.last_epoch == fresh_sched.last_epoch == k
    assert optimizer.state == {}  # no momentum carried into the next level
    assert all(torch.equal(net.state_dict()[n], w) for n, w in weights.items())


def test_none_keeps_weights_momentum_and_learning_rate():
    net = network()
    optimizer, scheduler = lambda_setup(net)
    train(net, 8, optimizer, scheduler)
    weights, lr = copy.deepcopy(net.state_dict()), optimizer.param_groups[0]["lr"]
    action = LevelRewind("none")
    action.weights(net, 1)
    action.schedules([optimizer], [(scheduler, "step")], steps_per_epoch=4)
    assert optimizer.param_groups[0]["lr"] == lr and len(optimizer.state) > 0
    assert all(torch.equal(net.state_dict()[n], w) for n, w in weights.items())


def test_random_reinit_is_reinitialize_from_the_level_seed():
    net, theirs = network(), network()
    action = LevelRewind("init", "random_reinit", seed=7)
    action.weights(net, 2)
    rw.reinitialize(theirs, level_seed(7, 2))
    assert all(torch.equal(net.state_dict()[n], v) for n, v in theirs.state_dict().items())
    assert not torch.equal(net[0].weight, network()[0].weight)


def test_random_prune_keeps_counts_at_active_positions_reproducibly():
    params = {"a": torch.randn(10, 10), "b": torch.randn(50)}
    current = {"a": torch.rand(10, 10) > 0.3, "b": torch.ones(50, dtype=torch.bool)}
    rule = {"a": current["a"] & (params["a"].abs() > 0.5), "b": params["b"].abs() > 1.0}
    action = LevelRewind("init", "random_prune", seed=3)
    masks = action.masks(params, current, rule, 1)
    assert {n: int(m.sum()) for n, m in masks.items()} == {n: int(m.sum()) for n, m in rule.items()}
    assert all(not (m & ~current[n]).any() for n, m in masks.items())
    assert all(torch.equal(m, action.masks(params, current, rule, 1)[n]) for n, m in masks.items())
    assert any(not torch.equal(m, rule[n]) for n, m in masks.items())
    assert LevelRewind("init").masks(params, current, rule, 1) is rule


def test_snapshot_and_seed_survive_a_state_dict():
    action = LevelRewind("init", seed=5)
    action.take_snapshot(network())
    again = LevelRewind("init")
    again.load_state_dict(action.state_dict())
    assert again.seed == 5
    assert all(torch.equal(again.snapshot[n], v) for n, v in action.snapshot.items())


@pytest.mark.parametrize(
    "args, match",
    [
        ({"rewind": "late"}, r"rewind='late' is not one of init, step:K"),
        ({"control": "shuffle"}, "control='shuffle' is not one of none, random_reinit"),
        ({"rewind": "lr", "control": "random_reinit"}, "needs pruning.rewind=init or step:K"),
    ],
)
def test_bad_settings_are_refused_naming_them(args, match):
    with pytest.raises(ConfigError, match=match):
        LevelRewind(**args)


def test_a_rewind_step_outside_level_zero_is_refused():
    LevelRewind("step:9").check(10)
    with pytest.raises(ConfigError, match="rewind step 10 is not inside level 0, which has 10"):
        LevelRewind("step:10").check(10)
