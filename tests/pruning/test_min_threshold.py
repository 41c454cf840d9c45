"""GlobalMP's minimum threshold: no layer keeps fewer than M, small layers stay dense, exact total,
and the same per-layer sparsities as the authors' iterate-until-done procedure."""

import math

import pytest
import torch

from prunelab.pruning import (
    count_kept,
    global_counts,
    is_subset,
    keep_total,
    mt_counts,
    mt_sparsities,
    select,
)

# (shape, score scale): low-scale layers are the ones plain global pruning would wipe out.
LAYERS = {
    "stem.weight": ((8, 3, 3, 3), 0.05),
    "big.weight": ((64, 64, 3, 3), 1.0),
    "mid.weight": ((32, 32, 3, 3), 0.9),
    "low.weight": ((16, 32, 1, 1), 0.8),
    "fc.weight": ((10, 64), 0.3),
    "tiny.weight": ((2, 5), 0.0001),
}
NUMEL = {n: math.prod(s) for n, (s, _) in LAYERS.items()}
N_TOTAL = sum(NUMEL.values())
MT_PERCENT = 0.5
M = math.floor(N_TOTAL * MT_PERCENT / 100)  # 237 weights


def _scores(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.rand(s, generator=gen) * scale for n, (s, scale) in LAYERS.items()}


def _ones():
    return {n: torch.ones(s, dtype=torch.bool) for n, (s, _) in LAYERS.items()}


def _authors_procedure(scores, masks, target):
    """GlobalMP's steps (2)-(4) as described in the paper's code: rescale everything, re-clamp,
    repeat while the total is short. Written from the description, run to convergence."""
    plain = global_counts(scores, masks, target)
    s = {n: 1 - plain[n] / NUMEL[n] for n in NUMEL}
    s = {n: 0.0 if NUMEL[n] < M else v for n, v in s.items()}

    def total(s):
        return sum(NUMEL[n] * s[n] for n in s) / N_TOTAL

    def clamp(s):
        return {
            n: 1 - M / NUMEL[n] if (1 - v) * NUMEL[n] < M and NUMEL[n] > M else v
            for n, v in s.items()
        }

    s = {n: v * target / total(s) for n, v in s.items()}
    s = clamp(s)
    for _ in range(100_000):
        if total(s) >= target - 1e-13:
            break
        s = clamp({n: v * target / total(s) for n, v in s.items()})
    return s


@pytest.mark.parametrize("target", [0.5, 0.89, 0.9, 0.95, 0.97])
def test_mt_is_exact_and_protects_every_layer(target):
    scores, masks = _scores(), _ones()
    counts = mt_counts(scores, masks, target, mt_percent=MT_PERCENT)
    assert sum(counts.values()) == keep_total(N_TOTAL, target)
    new = select(scores, masks, counts)
    assert count_kept(new) == keep_total(N_TOTAL, target)
    for name, n in NUMEL.items():
        if n < M:
            assert counts[name] == n  # small layers stay dense
        else:
            assert counts[name] >= M
        kept, pruned = scores[name][new[name]], scores[name][~new[name]]
        if kept.numel() and pruned.numel():  # within a layer, still by magnitude
            assert kept.min() >= pruned.max()


def test_the_test_is_meaningful_plain_global_collapses_layers():
    plain = global_counts(_scores(), _ones(), 0.95)
    assert plain["fc.weight"] < M and plain["low.weight"] < M


@pytest.mark.parametrize("target", [0.5, 0.89, 0.9, 0.95, 0.97])
def test_mt_equals_the_limit_of_the_authors_iteration(target):
    scores, masks = _scores(), _ones()
    ours = mt_sparsities(scores, masks, target, mt_percent=MT_PERCENT)
    theirs = _authors_procedure(scores, masks, target)
    for name, n in NUMEL.items():
        # Within a fraction of a weight: they aim at the real target (1 - S) N, we at its
        # rounding keep_total(N, S).
        assert abs(ours[name] - theirs[name]) * n < 0.5, name
    counts = mt_counts(scores, masks, target, mt_percent=MT_PERCENT)
    for name, n in NUMEL.items():  # rounding moves each layer by less than one weight
        assert abs(counts[name] - (1 - ours[name]) * n) < 1


def test_mt_zero_is_plain_global():
    scores, masks = _scores(1), _ones()
    assert mt_counts(scores, masks, 0.9, mt_percent=0.0) == global_counts(scores, masks, 0.9)


def test_infeasible_target_raises_with_numbers():
    # Two layers below M stay dense (216 + 10) and four keep M = 237 each: 1174 must stay, more
    # than the 475 that 99% sparsity leaves of 47,458.
    with pytest.raises(ValueError, match=r"keeps 475 of 47458.*at least 1174"):
        mt_counts(_scores(), _ones(), 0.99, mt_percent=MT_PERCENT)
    with pytest.raises(ValueError, match="percentage"):
        mt_counts(_scores(), _ones(), 0.9, mt_percent=150)


def test_mt_second_round_only_shrinks():
    masks = _ones()
    first = select(_scores(0), masks, mt_counts(_scores(0), masks, 0.8, mt_percent=MT_PERCENT))
    scores = _scores(2)
    second = select(scores, first, mt_counts(scores, first, 0.97, mt_percent=MT_PERCENT))
    assert is_subset(second, first)
    assert count_kept(second) == keep_total(N_TOTAL, 0.97)
    assert all(int(second[n].sum()) >= min(M, NUMEL[n]) for n in NUMEL)
