"""SAP (Diao et al. 2023; ALGORITHMS.md section 4) over a whole mask set: the PQ index of a
network at each scope, and how many weights each layer or neuron keeps under SAP's rule.

Scopes: `global` (all prunable weights as one vector: one d, one I, one count, the kept weights
then chosen by a global magnitude order), `layer` (each tensor on its own) and `neuron` (each
output row of `w.flatten(1)` on its own). d is always the number of unpruned entries in scope.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from prunelab.pruning.allocation import global_keep_counts
from prunelab.pruning.masks import MaskSet
from prunelab.pruning.pq_index import pq_index, pq_index_rows, sap_prune_count
from prunelab.pruning.scores import magnitude
from prunelab.pruning.selection import select, select_rows

SCOPES = ("global", "layer", "neuron")


def _active(weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]):
    """All unpruned weights as one flat vector, in parameter order."""
    return torch.cat([weights[n].detach().flatten()[masks[n].flatten()] for n in masks])


def network_pq_index(
    weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], p: float, q: float
) -> float:
    """PQ index of all unpruned prunable weights taken as one vector (the `global` scope)."""
    return pq_index(_active(weights, masks), p, q) if masks else 0.0


def layer_pq_indices(
    weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], p: float, q: float
) -> dict[str, float]:
    """PQ index of each layer's unpruned weights (the `layer` scope)."""
    return {n: pq_index(weights[n], p, q, m) for n, m in masks.items()}


def sap_counts(
    weights: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    scope: str,
    p: float = 0.5,
    q: float = 1.0,
    eta: float = 0.0,
    gamma: float = 1.0,
    beta: float = 0.9,
) -> dict[str, int] | dict[str, list[int]]:
    """Weights to keep after one SAP step: d - c per scope unit, c = `sap_prune_count`.

    Returns:
        Per layer an int (`global`, `layer`: ready for `select`), or per layer a list with one
        count per output neuron (`neuron`: ready for `select_rows`).

    Raises:
        ValueError: an unknown scope.
    """
    if scope not in SCOPES:
        raise ValueError(f"SAP scope={scope!r} is not one of {', '.join(SCOPES)}")
    rule = {"p": p, "q": q, "eta": eta, "gamma": gamma, "beta": beta}
    if scope == "global" and masks:
        vector = _active(weights, masks)
        d = vector.numel()
        keep = d - sap_prune_count(d, pq_index(vector, p, q), **rule)
        return global_keep_counts(magnitude(weights), masks, keep)
    if scope in ("global", "layer"):  # (global without any prunable weight: nothing to keep)
        counts = {}
        for name, mask in masks.items():
            d = int(mask.sum())
            counts[name] = d - sap_prune_count(d, pq_index(weights[name], p, q, mask), **rule)
        return counts
    rows = {}
    for name, mask in masks.items():
        index = pq_index_rows(weights[name], mask, p, q).tolist()
        active = mask.flatten(1).sum(1).tolist()
        rows[name] = [int(d) - sap_prune_count(int(d), i, **rule) for d, i in zip(active, index)]
    return rows


def sap_masks(
    weights: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    scope: str,
    **rule: float,
) -> MaskSet:
    """The masks after one SAP step: in each scope unit, the SAP count of smallest-magnitude
    unpruned weights is pruned (ties: the higher index goes first, as everywhere)."""
    counts = sap_counts(weights, masks, scope, **rule)
    scores = magnitude(weights)
    if scope == "neuron":
        return select_rows(scores, masks, counts)
    return select(scores, masks, counts)
