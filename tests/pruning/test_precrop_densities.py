"""Per-layer density sources of PreCropping: convex water-filling, uniform, SNIP, SynFlow."""

import math

import pytest
import torch
from torch import nn

from prunelab.pruning.allocation import keep_total
from prunelab.pruning.layer_densities import (
    convex_densities,
    snip_densities,
    snip_scores,
    synflow_densities,
    uniform_densities,
)


@pytest.mark.parametrize("density", [0.02, 0.1, 0.5, 0.9, 1.0])
def test_convex_densities_meet_the_budget_in_water_filling_form(density):
    costs = {"a": 432.0, "b": 9216.0, "c": 36864.0, "d": 640.0, "e": 147456.0, "f": 20.0}
    p = convex_densities(costs, density)
    spent = sum(p[n] * c for n, c in costs.items())
    assert spent == pytest.approx(density * sum(costs.values()), rel=1e-12)
    assert all(0 < v <= 1 for v in p.values())
    # p_l = min(1, c / n_l) for one common level c: every uncapped layer spends the same c, and
    # every dense layer costs at most c.
    level = max(p[n] * costs[n] for n in costs)
    for n, c in costs.items():
        assert p[n] == pytest.approx(min(1.0, level / c), rel=1e-12)
    assert all(costs[n] <= level * (1 + 1e-12) for n in costs if p[n] == 1.0)


def test_convex_densities_hand_case():
    # Budget 0.5 * 400 = 200 over costs 10, 90, 300: the 10 layer is dense (10 <= 95), then
    # c = 190 / 2 = 95 -> the 90 layer is dense too (90 <= 95), then c = 100 for the last one.
    p = convex_densities({"small": 10, "mid": 90, "big": 300}, 0.5)
    assert p == pytest.approx({"small": 1.0, "mid": 1.0, "big": 100 / 300})


def test_convex_and_uniform_refuse_bad_densities():
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="density"):
            convex_densities({"a": 1}, bad)
        with pytest.raises(ValueError, match="density"):
            uniform_densities({"a": 1}, bad)
    assert uniform_densities({"a": 10, "b": 3}, 0.25) == {"a": 0.25, "b": 0.25}


def test_snip_scores_are_w_times_summed_grad_by_hand():
    # logits = W x; x = (1, 0), label 0: dL/dlogits = softmax - onehot = (-s, s) with
    # s = sigmoid(z1 - z0). dL/dW = outer(dL/dlogits, x): only the first column is nonzero.
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    scores = snip_scores(model, ["weight"], [(x, y), (x, y)])  # two batches: gradients add up
    s = 1 / (1 + math.exp(-(3.0 - 1.0)))
    expected = torch.tensor([[1.0 * 2 * s, 0.0], [3.0 * 2 * s, 0.0]])
    assert torch.allclose(scores["weight"], expected, rtol=1e-6)
    assert model.weight.grad is None  # scored on a copy: the model is untouched


def test_snip_densities_are_the_global_top_k_per_layer():
    torch.manual_seed(0)
    scores = {"a": torch.rand(40), "b": torch.rand(3, 20) * 0.5, "c": torch.rand(100) * 2}
    p = snip_densities(scores, 0.3)
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = keep_total(flat.numel(), 0.7)
    threshold = flat.sort(descending=True).values[k - 1]
    for name, s in scores.items():
        assert p[name] == int((s >= threshold).sum()) / s.numel()
    assert round(sum(p[n] * s.numel() for n, s in scores.items())) == k


def test_synflow_densities_reach_the_target_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Flatten(),
        nn.Linear(8 * 6 * 6, 10),
    )  # fmt: skip
    before = [p.clone() for p in model.parameters()]
    names = ["0.weight", "2.weight", "4.weight"]
    p = synflow_densities(model, (3, 8, 8), names, 0.05, iterations=5)
    sizes = dict(model.named_parameters())
    total = sum(sizes[n].numel() for n in names)
    assert round(sum(p[n] * sizes[n].numel() for n in names)) == keep_total(total, 0.95)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
