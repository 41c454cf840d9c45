"""Mask sets: application, validation, counting, and zeroing optimizer state at pruned entries."""

import pytest
import torch
from torch import nn

from prunelab.pruning import (
    apply_masks,
    count_kept,
    count_total,
    densities,
    is_subset,
    ones_masks,
    sparsity,
    validate_masks,
    zero_momentum,
)


def _params():
    torch.manual_seed(0)
    return {"a.weight": nn.Parameter(torch.randn(4, 3)), "b.weight": nn.Parameter(torch.randn(6))}


def test_ones_masks_and_counts():
    params = _params()
    masks = ones_masks(params)
    assert all(m.dtype == torch.bool and m.all() for m in masks.values())
    assert count_kept(masks) == count_total(masks) == 18
    assert sparsity(masks) == 0.0
    masks["a.weight"][0] = False  # 3 of 18 pruned
    assert count_kept(masks) == 15
    assert sparsity(masks) == pytest.approx(3 / 18)
    assert densities(masks) == {"a.weight": pytest.approx(9 / 12), "b.weight": 1.0}
    assert sparsity({}) == 0.0


def test_apply_masks_writes_exact_zeros_even_over_nan():
    params = _params()
    with torch.no_grad():
        params["b.weight"][0] = float("nan")
    masks = ones_masks(params)
    masks["b.weight"][:3] = False
    apply_masks(params, masks)
    assert (params["b.weight"][:3] == 0).all()
    assert (params["b.weight"][3:] != 0).all()
    assert params["a.weight"].requires_grad  # still a leaf parameter


def test_validate_masks_rejects_bad_sets():
    params = _params()
    validate_masks(ones_masks(params), params)
    bad = ones_masks(params)
    bad["c.weight"] = torch.ones(2, dtype=torch.bool)
    with pytest.raises(ValueError, match="unknown"):
        validate_masks(bad, params)
    with pytest.raises(ValueError, match="without a mask"):
        validate_masks({"a.weight": torch.ones(4, 3, dtype=torch.bool)}, params)
    bad = ones_masks(params)
    bad["a.weight"] = torch.ones(4, 3)
    with pytest.raises(ValueError, match="dtype"):
        validate_masks(bad, params)
    bad = ones_masks(params)
    bad["a.weight"] = torch.ones(3, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="shape"):
        validate_masks(bad, params)


def test_is_subset():
    params = _params()
    old = ones_masks(params)
    old["a.weight"][0, 0] = False
    new = {n: m.clone() for n, m in old.items()}
    new["b.weight"][2] = False
    assert is_subset(new, old)
    assert not is_subset(old, new)
    assert is_subset(old, old)
    assert not is_subset({"a.weight": old["a.weight"]}, old)


@pytest.mark.parametrize(
    ("make", "keys"),
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), ["momentum_buffer"]),
        (lambda p: torch.optim.Adam(p, lr=0.1), ["exp_avg", "exp_avg_sq"]),
    ],
)
def test_zero_momentum(make, keys):
    params = _params()
    optimizer = make(list(params.values()))
    for _ in range(2):
        optimizer.zero_grad()
        sum((p**2).sum() for p in params.values()).backward()
        optimizer.step()
    masks = ones_masks(params)
    masks["a.weight"][1] = False
    masks["b.weight"][::2] = False
    zero_momentum(optimizer, params, masks)
    for name, p in params.items():
        state = optimizer.state[p]
        for key in keys:
            assert (state[key][~masks[name]] == 0).all()
            assert (state[key][masks[name]] != 0).all()
    if "step" in optimizer.state[params["a.weight"]]:  # Adam's scalar step count is untouched
        assert float(optimizer.state[params["a.weight"]]["step"]) == 2


def test_zero_momentum_without_state_is_a_no_op():
    params = _params()
    optimizer = torch.optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    zero_momentum(optimizer, params, ones_masks(params))
    assert len(optimizer.state) == 0
