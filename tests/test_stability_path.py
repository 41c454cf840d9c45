"""The instability analysis' pure pieces: the linear path, its barrier, L2 distances, BatchNorm
statistics recomputed on batches, and the figure, each against an independent reference."""

import pytest
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.stability import alphas, barrier, error_path, interpolate, l2_distance, recompute
from prunelab.stability.batchnorm import batchnorm_layers
from prunelab.stability.copies import Length
from prunelab.stability.errors_along import test_error as error_of
from prunelab.stability.plot import path_figure


def tiny_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )


def masked_states():
    """Two trained-looking states of `tiny_net` with the same masks baked in, and the masks."""
    gen = torch.Generator().manual_seed(0)
    a, b = tiny_net(1).state_dict(), tiny_net(2).state_dict()
    masks = {n: torch.rand(a[n].shape, generator=gen) < 0.4 for n in ("0.weight", "4.weight")}
    for state in (a, b):
        state["1.running_mean"].uniform_(-1, 1, generator=gen)
        state["1.running_var"].uniform_(0.5, 2, generator=gen)
        state["1.num_batches_tracked"].fill_(7 if state is a else 9)
        for n, m in masks.items():
            state[n] = state[n].masked_fill(~m, 0)
    return a, b, masks


def test_alphas_are_evenly_spaced_with_both_ends():
    assert alphas(11) == pytest.approx([i / 10 for i in range(11)], abs=0)
    assert alphas(2) == [0.0, 1.0]
    with pytest.raises(ValueError, match="at least its 2 endpoints"):
        alphas(1)


def test_path_ends_are_the_copies_bit_for_bit_and_the_middle_is_their_mean():
    a, b, masks = masked_states()
    start, end = interpolate(a, b, 0.0, masks), interpolate(a, b, 1.0, masks)
    for name in a:
        assert torch.equal(start[name], a[name]), name
        if a[name].is_floating_point():
            assert torch.equal(end[name], b[name]), name
    middle = interpolate(a, b, 0.5, masks)
    for name in ("0.weight", "0.bias", "1.running_mean", "1.running_var", "4.weight"):
        assert torch.allclose(middle[name], (a[name] + b[name]) / 2, atol=1e-7), name
    # a count is not interpolated: copy A's, at every point
    assert int(middle["1.num_batches_tracked"]) == int(end["1.num_batches_tracked"]) == 7


def test_masked_weights_stay_exactly_zero_at_every_point():
    a, b, masks = masked_states()
    for alpha in alphas(11):
        mixed = interpolate(a, b, alpha, masks)
        for name, mask in masks.items():
            assert not mixed[name][~mask].any(), (alpha, name)
            assert mixed[name][mask].count_nonzero() > 0.9 * mask.sum(), (alpha, name)


def test_a_copy_with_a_revived_pruned_weight_is_refused():
    a, b, masks = masked_states()
    position = (~masks["4.weight"]).nonzero()[0].tolist()
    b["4.weight"][tuple(position)] = 0.5
    with pytest.raises(ValueError, match="copy B has nonzero pruned weights in 4.weight"):
        interpolate(a, b, 0.5, masks)


def test_identical_copies_give_one_state_everywhere():
    a, _, masks = masked_states()
    for alpha in (0.0, 0.3, 0.7, 1.0):
        mixed = interpolate(a, a, alpha, masks)
        assert all(torch.equal(mixed[n], a[n]) for n in a), alpha


def test_barrier_is_the_peak_above_the_endpoints_mean():
    assert barrier([0.1, 0.3, 0.2]) == pytest.approx(0.15)
    assert barrier([0.2, 0.2, 0.2]) == 0
    assert barrier([0.4, 0.1, 0.2]) == pytest.approx(0.1)  # a peak at an end: half the gap


def test_l2_distance_is_the_norm_of_all_differences_together():
    a, b, _ = masked_states()
    names = ["0.weight", "4.weight", "4.bias"]
    flat = torch.cat([(a[n] - b[n]).flatten() for n in names])
    assert l2_distance(a, b, names) == pytest.approx(float(torch.linalg.vector_norm(flat)))
    assert l2_distance(a, a, names) == 0


def test_recomputed_statistics_are_the_average_over_the_batches():
    net = tiny_net(3)
    bn = net[1]
    bn.running_mean.fill_(5.0)  # stale values that must not survive
    bn.running_var.fill_(9.0)
    gen = torch.Generator().manual_seed(4)
    batches = [torch.randn(6, 3, 8, 8, generator=gen) for _ in range(3)]
    assert recompute(net, batches) == 3
    with torch.no_grad():
        acts = [net[0](x) for x in batches]
    mean = torch.stack([x.mean((0, 2, 3)) for x in acts]).mean(0)
    var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in acts]).mean(0)
    assert torch.allclose(bn.running_mean, mean, atol=1e-5)
    assert torch.allclose(bn.running_var, var, atol=1e-5)
    assert bn.momentum == 0.1 and not net.training  # restored, left in eval mode
    with pytest.raises(ValueError, match="at least one training batch"):
        recompute(net, [])
    assert batchnorm_layers(nn.Sequential(nn.Linear(2, 2))) == []


def test_path_endpoints_are_each_copys_own_test_error():
    a, b, masks = masked_states()
    gen = torch.Generator().manual_seed(5)
    data = [(torch.randn(20, 3, 8, 8, generator=gen), torch.randint(0, 3, (20,), generator=gen))]
    net = tiny_net(0)
    errors = error_path(net, a, b, alphas(5), lambda: iter(data), masks=masks)
    own = []
    for state in (a, b):
        net.load_state_dict(state)
        with torch.no_grad():
            wrong = int((net.eval()(data[0][0]).argmax(1) != data[0][1]).sum())
            own.append(wrong / 20)
    assert [errors[0], errors[-1]] == own
    with pytest.raises(ValueError, match="bn=mean is not one of keep, recompute"):
        error_path(net, a, b, [0.0], lambda: iter(data), bn="mean")
    with pytest.raises(ValueError, match="no test batch"):
        error_of(net, iter([]))


def test_training_length_is_steps_or_epochs_not_both():
    assert Length(steps=5).trainer_args() == {"max_steps": 5, "max_epochs": -1}
    assert Length(epochs=2).trainer_args() == {"max_epochs": 2}
    with pytest.raises(ConfigError, match="steps=N or epochs=N, not both"):
        Length(steps=5, epochs=2)
    with pytest.raises(ConfigError, match="steps=N or epochs=N"):
        Length()
    with pytest.raises(ConfigError, match="positive integer, got 0"):
        Length(steps=0)


def test_figure_draws_the_errors_in_percent():
    fig = path_figure([0.0, 0.5, 1.0], [0.2, 0.35, 0.3], "instability on X / Y")
    ax = fig.axes[0]
    curve, mean = ax.get_lines()
    assert list(curve.get_xdata()) == [0.0, 0.5, 1.0]
    assert list(curve.get_ydata()) == pytest.approx([20, 35, 30])
    assert list(mean.get_ydata()) == pytest.approx([25, 25])
    assert ax.yaxis.get_major_formatter()(35, 0) == "35%"
    assert ax.get_title() == "instability on X / Y"
