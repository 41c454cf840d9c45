"""Allocation: exact keep counts for global, layerwise and table allocations, and agreement of
global_counts + select with PyTorch's own global magnitude pruning."""

import copy
import math

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning import (
    count_kept,
    global_counts,
    global_keep_counts,
    is_subset,
    keep_total,
    layerwise_counts,
    magnitude,
    ones_masks,
    prunable_parameters,
    round_to_total,
    select,
    table_counts,
)

# Layers of very different sizes: a 3x3 conv stem, a wide conv, a 1x1 shortcut, a classifier and
# a tiny layer of 6 weights.
SHAPES = {
    "conv1.weight": (16, 3, 3, 3),
    "layer1.conv.weight": (64, 32, 3, 3),
    "layer1.shortcut.weight": (32, 16, 1, 1),
    "fc.weight": (10, 64),
    "tiny.weight": (2, 3),
}
SPARSITIES = [0.0, 0.1, 0.5, 0.8, 0.9, 0.987, 0.9999, 1.0]


def _scores(seed):
    gen = torch.Generator().manual_seed(seed)
    # Different scales per layer, as trained weights have.
    return {n: torch.rand(s, generator=gen) * (i + 1) for i, (n, s) in enumerate(SHAPES.items())}


def _all_ones():
    return {n: torch.ones(s, dtype=torch.bool) for n, s in SHAPES.items()}


N_TOTAL = sum(math.prod(s) for s in SHAPES.values())


def test_keep_total():
    assert keep_total(1000, 0.9) == 100
    assert keep_total(1000, 0.0) == 1000 and keep_total(1000, 1.0) == 0
    assert keep_total(7, 0.5) == 4  # 3.5 rounds half to even
    with pytest.raises(ValueError):
        keep_total(10, 1.5)


def test_round_to_total_is_exact_floor_or_ceil_and_respects_caps():
    quotas = {"a": 2.5, "b": 2.5, "c": 0.7, "d": 4.3}
    counts = round_to_total(quotas, 10)
    assert sum(counts.values()) == 10
    assert all(math.floor(q) <= counts[n] <= math.ceil(q) for n, q in quotas.items())
    assert counts == {"a": 3, "b": 2, "c": 1, "d": 4}  # equal remainders: earlier layer first
    capped = round_to_total(quotas, 10, caps={"a": 1, "b": 9, "c": 9, "d": 9})
    assert sum(capped.values()) == 10 and capped["a"] == 1
    with pytest.raises(ValueError):
        round_to_total(quotas, 10, caps={"a": 1, "b": 1, "c": 1, "d": 1})
    # Quotas above the total: the surplus comes off the smallest remainders, earlier layer first.
    assert round_to_total({"a": 3.0, "b": 3.0, "c": 1.5}, 6) == {"a": 2, "b": 3, "c": 1}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("target", SPARSITIES)
def test_global_is_exact_and_every_kept_score_beats_every_pruned_one(seed, target):
    scores, masks = _scores(seed), _all_ones()
    counts = global_counts(scores, masks, target)
    new = select(scores, masks, counts)
    assert count_kept(new) == sum(counts.values()) == keep_total(N_TOTAL, target)
    kept = torch.cat([scores[n][new[n]] for n in SHAPES])
    pruned = torch.cat([scores[n][~new[n]] for n in SHAPES])
    if kept.numel() and pruned.numel():
        assert kept.min() >= pruned.max()


@pytest.mark.parametrize("target", [0.2, 0.5, 0.9, 0.99])
def test_global_matches_torch_global_unstructured(target):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.Conv2d(16, 64, 3), nn.Conv2d(64, 32, 1), nn.Linear(32, 10)
    )
    for i, module in enumerate(model):  # very different weight scales per layer
        nn.init.normal_(module.weight, std=10.0**-i)
    params = prunable_parameters(model)
    masks = ones_masks(params)
    ours = select(magnitude(params), masks, global_counts(magnitude(params), masks, target))

    theirs = copy.deepcopy(model)
    n_total = sum(p.numel() for p in params.values())
    torch_prune.global_unstructured(
        [(m, "weight") for m in theirs],
        pruning_method=torch_prune.L1Unstructured,
        amount=n_total - keep_total(n_total, target),  # an int: the number of weights to prune
    )
    for i, module in enumerate(theirs):
        assert torch.equal(ours[f"{i}.weight"], module.weight_mask.bool())


def test_masks_only_shrink_on_a_second_round():
    masks = _all_ones()
    first = select(_scores(0), masks, global_counts(_scores(0), masks, 0.5))
    scores = _scores(1)  # new scores that would favour some pruned entries
    counts = global_counts(scores, first, 0.8)
    second = select(scores, first, counts)
    assert is_subset(second, first)
    assert count_kept(second) == keep_total(N_TOTAL, 0.8)
    kept = torch.cat([scores[n][second[n]] for n in SHAPES])
    dropped = torch.cat([scores[n][first[n] & ~second[n]] for n in SHAPES])
    assert kept.min() >= dropped.max()
    with pytest.raises(ValueError, match="active"):
        global_counts(scores, second, 0.5)  # cannot grow back


def test_ties_give_the_exact_count_deterministically():
    scores = {n: torch.ones(s) for n, s in SHAPES.items()}
    masks = _all_ones()
    counts = global_counts(scores, masks, 0.9)
    assert sum(counts.values()) == keep_total(N_TOTAL, 0.9)
    assert counts == global_counts(scores, masks, 0.9)
    # The lowest global indices win: layers fill up in parameter order.
    assert counts["conv1.weight"] == 432
    assert counts["fc.weight"] == 0 and counts["tiny.weight"] == 0
    assert global_keep_counts(scores, masks, 0) == dict.fromkeys(SHAPES, 0)


@pytest.mark.parametrize("target", SPARSITIES)
def test_layerwise_is_uniform_and_exact(target):
    scores, masks = _scores(2), _all_ones()
    counts = layerwise_counts(masks, target)
    assert sum(counts.values()) == keep_total(N_TOTAL, target)
    new = select(scores, masks, counts)
    for name, shape in SHAPES.items():
        quota = (1 - target) * math.prod(shape)
        assert math.floor(quota) <= counts[name] <= math.ceil(quota)
        kept, pruned = scores[name][new[name]], scores[name][~new[name]]
        if kept.numel() and pruned.numel():
            assert kept.min() >= pruned.max()


def test_layerwise_second_round_never_asks_for_more_than_is_active():
    masks = _all_ones()
    previous = masks
    for target in [0.2, 0.36, 0.488, 0.5904, 0.67232]:  # IMP levels at f = 0.2
        counts = layerwise_counts(previous, target)
        new = select(_scores(3), previous, counts)
        assert is_subset(new, previous)
        assert count_kept(new) == keep_total(N_TOTAL, target)
        previous = new


def test_table_counts():
    masks = _all_ones()
    table = {"conv1.*": 0.0, "layer1.*": 0.75, "*": 0.5}
    counts = table_counts(masks, table)
    assert counts["conv1.weight"] == 432
    assert counts["layer1.conv.weight"] == keep_total(18432, 0.75) == 4608
    assert counts["layer1.shortcut.weight"] == 128
    assert counts["fc.weight"] == 320 and counts["tiny.weight"] == 3
    assert table_counts(masks, {"fc.weight": 0.9}, default=0.0)["fc.weight"] == 64
    with pytest.raises(ConfigError, match="matches no layer"):
        table_counts(masks, {"classifier.*": 0.5}, default=0.0)
    with pytest.raises(ConfigError, match="no default"):
        table_counts(masks, {"fc.weight": 0.5})
    pruned = {n: m.clone() for n, m in masks.items()}
    pruned["fc.weight"][:] = False
    with pytest.raises(ValueError, match="active"):
        table_counts(pruned, {}, default=0.5)
