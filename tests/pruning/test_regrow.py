"""GraNet's drop-and-regrow: smallest |w| dropped, largest |grad| regrown, counts unchanged."""

import pytest
import torch

from prunelab.pruning import drop_count, prune_and_regrow


def test_hand_built_example():
    mask = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0], dtype=torch.bool)
    w = torch.tensor([0.1, -0.5, 0.3, 0.05, 0.0, 0.0, 0.0, 0.0])
    g = torch.tensor([-0.9, 0.0, 0.0, 0.2, 0.4, -0.8, 0.1, 0.3])
    new, regrown = prune_and_regrow({"w": mask}, {"w": w}, {"w": g}, fraction=0.5)
    # Drop ceil(0.5 * 4) = 2: |w| = 0.05 (index 3) and 0.1 (index 0).
    # Eligible: every position inactive after the drop, {0, 3, 4, 5, 6, 7}; the two largest
    # |grad| are index 0 (0.9, just dropped: kept with its value, as in GraNet) and 5 (0.8).
    assert new["w"].nonzero().flatten().tolist() == [0, 1, 2, 5]
    assert regrown["w"].nonzero().flatten().tolist() == [5]
    assert int(new["w"].sum()) == int(mask.sum())


def test_ties_are_broken_by_index():
    mask = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0], dtype=torch.bool)
    w = torch.tensor([1.0, 1.0, 1.0, 1.0, 0, 0, 0, 0])
    g = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    new, regrown = prune_and_regrow({"w": mask}, {"w": w}, {"w": g}, fraction=0.25)
    # Drop the higher index among equal |w| (3); regrow the lower index among equal |grad| (4).
    assert new["w"].nonzero().flatten().tolist() == [0, 1, 2, 4]
    assert regrown["w"].nonzero().flatten().tolist() == [4]


def _reference(mask, w, g, k):
    """Drop and regrow by plain Python sorting, ties by index, written independently."""
    mask, w, g = mask.flatten().tolist(), w.flatten().abs().tolist(), g.flatten().abs().tolist()
    active = [i for i, m in enumerate(mask) if m]
    dropped = set(sorted(active, key=lambda i: (w[i], -i))[:k])  # higher index drops first
    survivors = set(active) - dropped
    eligible = [i for i in range(len(mask)) if i not in survivors]
    grown = set(sorted(eligible, key=lambda i: (-g[i], i))[:k])  # lower index grows first
    return survivors | grown


@pytest.mark.parametrize("fraction", [0.005, 0.1, 0.3, 0.5])
def test_random_layers_match_a_reference_and_keep_their_counts(fraction):
    gen = torch.Generator().manual_seed(0)
    shapes = {"conv": (32, 16, 3, 3), "fc": (10, 64), "tiny": (3,)}
    masks = {n: torch.rand(s, generator=gen) < 0.3 for n, s in shapes.items()}
    # Rounded values: plenty of ties in both |w| and |grad|.
    weights = {n: (torch.randn(s, generator=gen) * 4).round() * masks[n] for n, s in shapes.items()}
    grads = {n: (torch.randn(s, generator=gen) * 4).round() for n, s in shapes.items()}
    new, regrown = prune_and_regrow(masks, weights, grads, fraction)
    for n in shapes:
        active = int(masks[n].sum())
        k = drop_count(fraction, active)
        assert int(new[n].sum()) == active
        expected = _reference(masks[n], weights[n], grads[n], k)
        assert set(new[n].flatten().nonzero().flatten().tolist()) == expected
        assert torch.equal(regrown[n], new[n] & ~masks[n])


def test_drop_count():
    assert drop_count(0.5, 5) == 3
    assert drop_count(0.1, 30) == 3  # 0.1 * 30 = 3.0000000000000004 in floats
    assert drop_count(0.005, 100) == 1
    assert drop_count(0.0, 100) == 0
    assert drop_count(1.0, 7) == 7
    with pytest.raises(ValueError):
        drop_count(1.5, 7)


def test_zero_fraction_changes_nothing():
    mask = torch.tensor([True, False, True])
    new, regrown = prune_and_regrow(
        {"w": mask}, {"w": torch.ones(3)}, {"w": torch.ones(3)}, fraction=0.0
    )
    assert torch.equal(new["w"], mask) and not regrown["w"].any()
