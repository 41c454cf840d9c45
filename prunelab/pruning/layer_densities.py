"""Per-layer densities at initialization for a target density: the first step of PreCropping.

Each source returns `dict[name, float]`, the fraction of layer l's weights a pruning-at-init method
would keep (ALGORITHMS.md section 5, step 1). SNIP and SynFlow run the method's global selection
and read off the per-layer fractions; ERK and uniform are closed forms; `convex` is the
water-filling solution of  max sum_l log p_l  s.t.  sum_l p_l n_l <= density * sum_l n_l,
0 < p_l <= 1, where n_l is the layer's cost (weights, or MACs for a MAC budget).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from prunelab.pruning.allocation import global_counts, global_keep_counts, keep_total
from prunelab.pruning.masks import apply_masks, densities, ones_masks
from prunelab.pruning.scores import ScoreSet, synflow
from prunelab.pruning.selection import select

SOURCES = ("snip", "synflow", "erk", "uniform", "convex")


def _check(density: float) -> None:
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must lie in (0, 1], got {density}")


def uniform_densities(numels: Mapping[str, int], density: float) -> dict[str, float]:
    """Every layer at the target density."""
    _check(density)
    return {n: float(density) for n in numels}


def convex_densities(costs: Mapping[str, float], density: float) -> dict[str, float]:
    """Water-filling: p_l = min(1, c / n_l), with c such that sum_l p_l n_l = density * sum_l n_l.

    The KKT conditions of the convex proxy give p_l = 1 / (lambda n_l) below the cap, so every
    uncapped layer keeps the same *cost* c; layers cheaper than c stay dense. Cheapest first: a
    layer that saturates only raises c for the rest, so one pass finds the dense set.

    Args:
        costs: layer -> n_l > 0 (weights for a parameter budget, MACs for a MAC budget).
        density: the budget as a fraction of sum_l n_l, in (0, 1].
    """
    _check(density)
    if any(c <= 0 for c in costs.values()):
        raise ValueError(f"layer costs must be positive, got {dict(costs)}")
    left, free = density * sum(costs.values()), len(costs)
    for name in sorted(costs, key=costs.get):
        if costs[name] > left / free:
            break
        left, free = left - costs[name], free - 1
    level = left / free if free else float("inf")
    return {n: min(1.0, level / c) for n, c in costs.items()}


def snip_scores(
    model: nn.Module,
    names: Iterable[str],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str | None = None,
) -> ScoreSet:
    """SNIP scores |w * g| of the named weights, g summed over the batches' mean cross-entropy.

    Runs on a copy in train mode (as training would see the network), so the model's weights,
    gradients and BatchNorm statistics are untouched.

    Returns:
        float scores on the CPU, keyed by parameter name.
    """
    names = list(names)
    weights = dict(model.named_parameters())
    grads = summed_gradients(model, names, batches, device)
    return {n: (weights[n].detach().to(grads[n].device) * grads[n]).abs().cpu() for n in names}


def summed_gradients(
    model: nn.Module,
    names: Iterable[str],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """g of the named weights: the gradients of each batch's mean cross-entropy, summed.

    Runs on a copy in train mode (as training would see the network), so the model's weights,
    gradients and BatchNorm statistics are untouched.

    Raises:
        RuntimeError: a named weight got no gradient.
    """
    clone = copy.deepcopy(model).train()
    if device is not None:
        clone = clone.to(device)
    clone.zero_grad(set_to_none=True)
    device = next(clone.parameters()).device
    for x, y in batches:
        F.cross_entropy(clone(x.to(device)), y.to(device)).backward()
    params = dict(clone.named_parameters())
    missing = [n for n in names if params[n].grad is None]
    if missing:
        raise RuntimeError(f"SNIP scoring gave no gradient for {missing}")
    return {n: params[n].grad.detach() for n in names}


def snip_densities(scores: Mapping[str, torch.Tensor], density: float) -> dict[str, float]:
    """Per-layer kept fraction of SNIP's global top-K at `density` (K = round(density * N))."""
    _check(density)
    masks = ones_masks(scores)
    keep = keep_total(sum(s.numel() for s in scores.values()), 1.0 - density)
    counts = global_keep_counts(scores, masks, keep)
    return {n: counts[n] / scores[n].numel() for n in scores}


def synflow_densities(
    model: nn.Module,
    input_shape: Sequence[int],
    names: Iterable[str],
    density: float,
    iterations: int = 100,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Per-layer kept fraction of iterative SynFlow (Tanaka et al. 2020) at `density`.

    `iterations` rounds of score-and-prune on a copy, the target density following SynFlow's
    exponential schedule density^(k / iterations); each round keeps the global top by score.
    `device`: where the copy runs (the model stays where it is).
    """
    _check(density)
    if iterations < 1:
        raise ValueError(f"synflow iterations must be >= 1, got {iterations}")
    clone = copy.deepcopy(model)
    if device is not None:
        clone = clone.to(device)
    all_params = dict(clone.named_parameters())
    params = {n: all_params[n] for n in names}
    masks = ones_masks(params)
    for k in range(1, iterations + 1):
        target = density ** (k / iterations)
        scores = synflow(clone, input_shape, params)
        masks = select(scores, masks, global_counts(scores, masks, 1.0 - target))
        apply_masks(params, masks)  # pruned weights are 0 and so score 0 in the next round
    return densities(masks)
