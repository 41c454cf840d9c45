"""GlobalMP's minimum threshold (MT, Gupta et al. 2022): global magnitude pruning, with no layer
left with fewer than M weights (ALGORITHMS.md section 2).

M = floor(N * mt_percent / 100) over all N prunable weights. `mt_percent` is a percentage, as in
the authors' `prune_withMT.py` (`--min-threshold` default 0.05, used as `num_weights * mt / 100`):
the default keeps at least 0.05% of the network in every layer, e.g. 12,778 of ResNet-50's
25.6M conv/linear weights.

Their procedure: (1) per-layer sparsities s_l of plain global pruning at the target S; (2) layers
with fewer than M weights stay dense; (3) rescale every s_l by S / S_current; (4) clamp any layer
that would keep fewer than M weights to keep exactly M, and repeat rescale + clamp until the total
reaches S. Their loop rescales all layers and re-clamps, so it approaches its limit geometrically.
We compute that limit directly: with the clamped set C fixed, the free layers' sparsities are
alpha * s_l with the one alpha that meets the target exactly; newly clamped layers join C and
alpha is recomputed; C only grows, so this ends after at most one pass per layer. Exact rationals
(`Fraction`) keep it deterministic. (5) the counts are rounded with the largest remainder so the
total is exactly keep_total(N, S); every free layer's real quota is >= M, so its floor is too.

Two refinements on their code: a layer of exactly M weights is clamped to M (i.e. dense), where
their strict comparisons leave it unprotected; and with existing masks no layer is asked to keep
more than its active weights (a layer already below M keeps what it has).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import torch

from prunelab.pruning.allocation import global_counts, keep_total, round_to_total


def _mt_keep(
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    sparsity: float,
    mt_percent: float,
) -> tuple[dict[str, Fraction], int]:
    """Real-valued keep quotas of MT, and the exact integer total they sum to."""
    if not 0.0 <= mt_percent <= 100.0:
        raise ValueError(f"mt_percent is a percentage in [0, 100], got {mt_percent}")
    numel = {n: m.numel() for n, m in masks.items()}
    active = {n: int(m.sum()) for n, m in masks.items()}
    n_total = sum(numel.values())
    target = keep_total(n_total, sparsity)
    minimum = math.floor(n_total * mt_percent / 100)
    plain = global_counts(scores, masks, sparsity)  # step (1)

    # Fixed layers: dense ones (step 2) and clamped ones (step 4); the rest are scaled by alpha.
    fixed = {n: Fraction(active[n]) for n in masks if numel[n] < minimum}
    while True:
        free = [n for n in masks if n not in fixed]
        to_place = target - sum(fixed.values())  # kept weights the free layers must hold
        pruned_plain = sum(numel[n] - plain[n] for n in free)  # their pruning at alpha = 1
        if not free or pruned_plain == 0:
            break
        alpha = Fraction(sum(numel[n] for n in free) - to_place, pruned_plain)
        keep = {n: numel[n] - alpha * (numel[n] - plain[n]) for n in free}
        # keep < M also catches keep < 0 (s_l > 1) when M is 0.
        clamped = [n for n in free if keep[n] < minimum]
        if not clamped:
            quotas = {**fixed, **keep}
            return {n: quotas[n] for n in masks}, target  # parameter order: it breaks ties
        fixed.update({n: Fraction(min(minimum, active[n])) for n in clamped})

    # Every layer is fixed (or the free ones cannot be pruned by rescaling): feasible only if the
    # fixed layers happen to hold exactly the target.
    quotas = {**fixed, **{n: Fraction(plain[n]) for n in masks if n not in fixed}}
    held = sum(quotas.values())
    if held != target:
        raise ValueError(
            f"minimum threshold infeasible: sparsity {sparsity} keeps {target} of {n_total} "
            f"weights, but with M = {minimum} ({mt_percent}% of all weights) per layer "
            f"({len(masks)} layers) at least {held} must stay; lower mt_percent or the sparsity"
        )
    return {n: quotas[n] for n in masks}, target


def mt_sparsities(
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    sparsity: float,
    mt_percent: float = 0.05,
) -> dict[str, float]:
    """Per-layer real-valued sparsities of GlobalMP with MT, before rounding (steps 1-4).

    Args and raises: as `mt_counts`.
    """
    quotas, _ = _mt_keep(scores, masks, sparsity, mt_percent)
    return {n: float(1 - quotas[n] / masks[n].numel()) for n in masks}


def mt_counts(
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    sparsity: float,
    mt_percent: float = 0.05,
) -> dict[str, int]:
    """Per-layer keep counts of global pruning with GlobalMP's minimum threshold.

    Args:
        scores: score set (|w| for GlobalMP).
        masks: current mask set; inactive entries are never counted as kept.
        sparsity: target fraction of all prunable weights that are zero.
        mt_percent: M as a percentage of all prunable weights (0.05 means 0.05%).

    Returns:
        Keep count per layer; the total is exactly keep_total(N, sparsity), no layer of at
        least M weights keeps fewer than M, and layers smaller than M keep all active weights.

    Raises:
        ValueError: the target cannot be met (every layer at its minimum and still too many
            weights kept), with the numbers.
    """
    quotas, target = _mt_keep(scores, masks, sparsity, mt_percent)
    caps = {n: int(m.sum()) for n, m in masks.items()}
    return round_to_total(quotas, target, caps=caps)  # exact rationals: floors are exact
