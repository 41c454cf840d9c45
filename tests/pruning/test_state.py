"""MaskState: the one place masks are enforced, on weights and optimizer state."""

import math

import pytest
import torch

from prunelab.pruning.masks import apply_masks, zero_momentum
from prunelab.pruning.state import MaskState


def weights():
    gen = torch.Generator().manual_seed(0)
    return {
        "a": torch.nn.Parameter(torch.randn(4, 3, generator=gen)),
        "b": torch.nn.Parameter(torch.randn(5, generator=gen)),
    }


def half_masks(params):
    return {n: torch.arange(p.numel()).view(p.shape) % 2 == 0 for n, p in params.items()}


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_enforce_zeroes_pruned_weights_and_per_weight_state_only(optimizer):
    params = weights()
    opt = optimizer(
        params.values(), lr=0.1, **({"momentum": 0.9} if optimizer is torch.optim.SGD else {})
    )
    sum(p.sum() for p in params.values()).backward()
    opt.step()
    with torch.no_grad():
        params["a"][0, 1] = math.nan  # a pruned NaN must become exactly +0
    masks = half_masks(params)
    state = MaskState(params)
    state.install(masks)
    state.enforce([opt])
    for name, p in params.items():
        pruned = ~masks[name]
        assert torch.equal(p[pruned], torch.zeros(int(pruned.sum())))
        assert not torch.signbit(p[pruned]).any()
        assert torch.isfinite(p[masks[name]]).all() and (p[masks[name]] != 0).all()
        per_weight = [v for v in opt.state[p].values() if v.shape == p.shape]
        assert per_weight and all(
            (v[pruned] == 0).all() and (v[~pruned] != 0).all() for v in per_weight
        )
    if optimizer is torch.optim.Adam:
        assert all(float(opt.state[p]["step"]) == 1.0 for p in params.values())  # scalar kept


def test_enforce_equals_apply_masks_plus_zero_momentum():
    first, second = weights(), weights()
    opts = [torch.optim.SGD(p.values(), lr=0.1, momentum=0.9) for p in (first, second)]
    for params, opt in zip((first, second), opts, strict=True):
        sum(p.sum() for p in params.values()).backward()
        opt.step()
    masks = half_masks(first)
    state = MaskState(first, masks)
    state.enforce([opts[0]])
    apply_masks(second, masks)
    zero_momentum(opts[1], second, masks)
    for name in first:
        assert torch.equal(first[name], second[name])
        buffers = [opts[i].state[p[name]]["momentum_buffer"] for i, p in enumerate((first, second))]
        assert torch.equal(*buffers)


def test_masks_only_shrink_unless_regrowth_is_allowed():
    params = weights()
    state = MaskState(params, half_masks(params))
    grown = {n: torch.ones_like(m) for n, m in state.masks.items()}
    with pytest.raises(RuntimeError, match="revive pruned weights"):
        state.install(grown)
    assert state.sparsity() == pytest.approx(1 - (6 + 3) / 17)
    state.install(grown, may_grow=True)
    assert state.sparsity() == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("b"), "parameters without a mask"),
        (lambda m: m.update(c=torch.ones(2, dtype=torch.bool)), "unknown parameters"),
        (lambda m: m.update(a=torch.ones(4, 3)), "expected torch.bool"),
        (lambda m: m.update(b=torch.ones(6, dtype=torch.bool)), "mask shape"),
    ],
)
def test_masks_that_do_not_fit_are_refused(change, message):
    params = weights()
    masks = half_masks(params)
    change(masks)
    with pytest.raises(ValueError, match=message):
        MaskState(params, masks)


def test_state_dict_holds_cpu_masks_equal_to_the_installed_ones():
    params = weights()
    masks = half_masks(params)
    saved = MaskState(params, masks).state_dict()["masks"]
    assert saved.keys() == masks.keys()
    assert all(saved[n].device.type == "cpu" and torch.equal(saved[n], masks[n]) for n in masks)
