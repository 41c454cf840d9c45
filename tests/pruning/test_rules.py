"""Rules: MagnitudeRule agrees with torch.nn.utils.prune (global and per layer) round after round;
RandomRule keeps exact counts, only among active weights, reproducibly from its seed; a minimum
threshold no allocation can honour is refused before training."""

import copy
import math

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning import is_subset, keep_total, ones_masks, prunable_parameters
from prunelab.pruning.rules import MagnitudeRule, RandomRule


def model():
    """Layers of very different sizes and weight scales, as a trained network has."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.Conv2d(16, 64, 3), nn.Conv2d(64, 32, 1), nn.Linear(32, 10)
    )
    for i, module in enumerate(net):
        nn.init.normal_(module.weight, std=10.0**-i)
    return net


def kept(masks):
    return sum(int(m.sum()) for m in masks.values())


def test_magnitude_global_equals_torch_global_unstructured_round_after_round():
    net = model()
    params = prunable_parameters(net)
    theirs = copy.deepcopy(net)
    n = sum(p.numel() for p in params.values())
    masks, left = ones_masks(params), n
    for target in (0.5, 0.8, 0.97):  # later rounds prune among the survivors
        masks = MagnitudeRule("global").masks(params, masks, target)
        torch_prune.global_unstructured(
            [(m, "weight") for m in theirs],
            pruning_method=torch_prune.L1Unstructured,
            amount=left - keep_total(n, target),  # an int: how many more weights to prune
        )
        left = keep_total(n, target)
        assert kept(masks) == left
        for i, module in enumerate(theirs):
            assert torch.equal(masks[f"{i}.weight"], module.weight_mask.bool()), (target, i)


def test_magnitude_layerwise_equals_torch_l1_per_layer_at_the_same_sparsity():
    net = model()
    params = prunable_parameters(net)
    masks = MagnitudeRule("layerwise").masks(params, ones_masks(params), 0.9)
    n = sum(p.numel() for p in params.values())
    assert kept(masks) == keep_total(n, 0.9)
    for i, module in enumerate(copy.deepcopy(net)):
        count = int(masks[f"{i}.weight"].sum())
        assert (
            math.floor(0.1 * module.weight.numel())
            <= count
            <= math.ceil(0.1 * module.weight.numel())
        )
        torch_prune.l1_unstructured(module, "weight", amount=module.weight.numel() - count)
        assert torch.equal(masks[f"{i}.weight"], module.weight_mask.bool()), i


def test_an_infeasible_minimum_threshold_is_refused_by_check():
    params = prunable_parameters(model())
    MagnitudeRule("global", 0.05).check(params, 0.9)  # feasible: no error
    with pytest.raises(ValueError, match=r"min_threshold=30.*infeasible"):
        MagnitudeRule("global", 30).check(params, 0.99)
    with pytest.raises(ConfigError, match="applies to allocation=global only"):
        MagnitudeRule("layerwise", 0.05)


@pytest.mark.parametrize("allocation", ["layerwise", "global", "erk"])
def test_random_keeps_exact_counts_among_active_weights_only(allocation):
    params = prunable_parameters(model())
    n = sum(p.numel() for p in params.values())
    first = RandomRule(allocation, seed=0).masks(params, ones_masks(params), 0.5)
    second = RandomRule(allocation, seed=1).masks(params, first, 0.9)
    assert kept(first) == keep_total(n, 0.5) and kept(second) == keep_total(n, 0.9)
    assert is_subset(second, first)  # a second draw never revives a pruned weight


def test_random_positions_are_the_seeded_uniform_scores_top_k():
    """Layerwise: each layer keeps its highest draws of torch.rand from the seeded generator,
    drawn layer after layer in parameter order; ties go to the lower index (a stable sort)."""
    params = prunable_parameters(model())
    masks = RandomRule("layerwise", seed=7).masks(params, ones_masks(params), 0.75)
    generator = torch.Generator().manual_seed(7)
    for name, p in params.items():
        draws = torch.rand(p.shape, generator=generator).flatten()
        k = int(masks[name].sum())
        order = torch.sort(draws, descending=True, stable=True).indices[:k]
        expected = torch.zeros(p.numel(), dtype=torch.bool)
        expected[order] = True
        assert torch.equal(masks[name].flatten(), expected), name


def test_random_seeds():
    params = prunable_parameters(model())
    ones = ones_masks(params)
    a, b = (RandomRule(seed=3).masks(params, ones, 0.8) for _ in range(2))
    c = RandomRule(seed=4).masks(params, ones, 0.8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    torch.manual_seed(11)  # seed None: the process's seed at the time of the draw
    d = RandomRule().masks(params, ones, 0.8)
    torch.manual_seed(11)
    assert all(torch.equal(d[k], v) for k, v in RandomRule().masks(params, ones, 0.8).items())
    with pytest.raises(ValueError, match="seed='x'"):
        RandomRule(seed="x")
