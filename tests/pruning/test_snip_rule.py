"""SnipRule: the masks keep exactly the global top-k of |w * g|, checked against torch.topk on a
tiny network and one fixed batch (g computed by hand with autograd)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.pruning.allocation import keep_total
from prunelab.pruning.masks import ones_masks
from prunelab.pruning.rules import SnipRule


def tiny_network_and_grads():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    x, y = torch.randn(5, 2, 6, 6), torch.tensor([0, 1, 2, 3, 0])
    F.cross_entropy(net(x), y).backward()
    params = {"0.weight": net[0].weight, "3.weight": net[3].weight}
    grads = {n: p.grad.detach().clone() for n, p in params.items()}
    return params, grads


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.75, 0.9])
def test_masks_are_the_global_top_k_of_w_times_g(sparsity):
    params, grads = tiny_network_and_grads()
    names = list(params)
    flat = torch.cat([(params[n].detach() * grads[n]).abs().flatten() for n in names])
    k = keep_total(flat.numel(), sparsity)
    expected = torch.zeros(flat.numel(), dtype=torch.bool)
    expected[torch.topk(flat, k).indices] = True  # random init: no ties among the scores

    masks = SnipRule().masks(params, ones_masks(params), sparsity, grads)

    got = torch.cat([masks[n].flatten() for n in names])
    assert torch.equal(got, expected)
    assert int(got.sum()) == k


def test_pruned_weights_stay_pruned_and_the_count_is_exact():
    params, grads = tiny_network_and_grads()
    current = ones_masks(params)
    current["3.weight"][0] = False  # already pruned: never kept again, even with a high score
    grads["3.weight"][0] = 1e6
    masks = SnipRule().masks(params, current, 0.5, grads)
    assert not masks["3.weight"][0].any()
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_total(total, 0.5)


def test_without_gradients_the_rule_refuses():
    params, _ = tiny_network_and_grads()
    with pytest.raises(ValueError, match="grads"):
        SnipRule().masks(params, ones_masks(params), 0.5)
