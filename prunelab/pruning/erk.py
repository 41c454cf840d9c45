"""Erdos-Renyi-Kernel (ERK) layer densities (Evci et al. 2020), as GraNet's sparse-to-sparse start.

Layer l's density is eps * (sum of its shape dims) / (product of its shape dims): kernel and
channel sizes both count, so small layers and 1x1 convs are kept denser than wide 3x3 convs.
eps is set so the kept weights total the target. A layer whose density would exceed 1 is made
dense and eps is recomputed over the others, until none exceeds 1. (GraNet's code moves only the
layer with the largest raw density to the dense set per pass; making every exceeding layer dense
at once gives the same result, since eps only grows when a layer leaves the scaled set, so a layer
that exceeded 1 keeps exceeding it.) The positions kept inside each layer are the caller's choice:
GraNet draws them at random (`random_scores` + `select`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from prunelab.pruning.allocation import keep_total, round_to_total


def _dense_set(shapes: Mapping[str, Sequence[int]], density: float) -> tuple[set[str], float]:
    """The layers ERK makes dense, and eps for the others."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"ERK density must lie in (0, 1], got {density}")
    numel = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / numel[n] for n, s in shapes.items()}
    budget = density * sum(numel.values())  # kept weights, as a real number
    dense: set[str] = set()
    eps = 0.0
    while len(dense) < len(shapes):
        free = [n for n in shapes if n not in dense]
        # raw_l * n_l is the layer's sum of dims, so eps = budget left / sum of the free layers'
        # raw_l * n_l.
        eps = (budget - sum(numel[n] for n in dense)) / sum(raw[n] * numel[n] for n in free)
        exceeding = {n for n in free if eps * raw[n] > 1.0}
        if not exceeding:
            break
        dense |= exceeding
    return dense, eps


def erk_densities(shapes: Mapping[str, Sequence[int]], density: float) -> dict[str, float]:
    """Real-valued ERK density per layer for an overall target density.

    Args:
        shapes: layer name -> weight shape, e.g. `{"conv1.weight": (16, 3, 3, 3)}`.
        density: target fraction of all weights kept, in (0, 1].

    Returns:
        Density per layer, each in (0, 1]; sum(density_l * n_l) = density * N up to float error.
    """
    dense, eps = _dense_set(shapes, density)
    return {n: 1.0 if n in dense else eps * sum(s) / math.prod(s) for n, s in shapes.items()}


def erk_counts(
    shapes: Mapping[str, Sequence[int]],
    sparsity: float,
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """ERK keep counts whose total is exactly keep_total(N, sparsity).

    Dense layers keep everything; the remaining kept weights are shared among the other layers in
    exact proportion to their sum of dims (largest remainder rounding, never above a layer's size
    or its entry in `caps`, e.g. its active weights, since masks only shrink: ERK's rounding is
    not monotone in the sparsity, so a layer can be owed one weight more than it still has).
    Takes a sparsity, like every other `*_counts` function.
    """
    numel = {n: math.prod(s) for n, s in shapes.items()}
    target = keep_total(sum(numel.values()), sparsity)
    dense, _ = _dense_set(shapes, 1.0 - sparsity) if target else (set(), 0.0)
    free = [n for n in shapes if n not in dense]
    left = target - sum(numel[n] for n in dense)
    dims = {n: sum(shapes[n]) for n in free}
    quotas: dict[str, Fraction] = {n: Fraction(numel[n]) for n in dense}
    quotas.update({n: Fraction(left * dims[n], sum(dims.values())) for n in free})
    limits = {n: min(numel[n], caps[n]) if caps else numel[n] for n in shapes}
    return round_to_total({n: quotas[n] for n in shapes}, target, caps=limits)
