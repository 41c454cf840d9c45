"""The PQ-index rule under a schedule that fixes the sparsity (`one_shot`, `cubic`).

This is prunelab's composition; no paper defines it. SAP (ALGORITHMS.md section 4) decides two
things each round: how many weights go in all, and how many of them each scope unit (a layer, or
an output neuron) gives up. Under a schedule that fixes the sparsity the first decision is the
schedule's, so the PQ index keeps only the second:
- the P weights a step must prune (the active ones above keep_total(N, sparsity)) are split
  between the units in proportion to SAP's prune counts c_u = `sap_prune_count` of each unit's
  unpruned weights (the PQ-index bound of `prunelab.pruning.sap`);
- no unit gives more than it holds (d_u, its unpruned weights): a unit whose share would exceed
  d_u is emptied and the excess is split among the others in the same proportion; when the units
  with c_u > 0 cannot take all of P (or none has c_u > 0), the rest is split in proportion to
  what the other units still hold;
- the real shares become integers by largest remainder (`round_to_total`), summing exactly to P;
- inside a unit the smallest |w| go (`select`, `select_rows`; ties as everywhere).
So every step keeps exactly keep_total(N, sparsity) weights, and a unit SAP would not prune
(c_u = 0) loses weights only when the others cannot take the amount. The `global` scope has one
unit, which would leave the PQ index nothing to decide (it would be global magnitude pruning), so
it is refused here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import torch

from prunelab.pruning.allocation import keep_total, round_to_total
from prunelab.pruning.masks import MaskSet
from prunelab.pruning.rules import PQIndexRule, Rule
from prunelab.pruning.sap import sap_counts
from prunelab.pruning.scores import magnitude
from prunelab.pruning.selection import select, select_rows

Tensors = Mapping[str, torch.Tensor]
STEP_SCOPES = ("layer", "neuron")


def water_fill(
    total: int, weights: Mapping[Hashable, int], caps: Mapping[Hashable, int]
) -> tuple[dict[Hashable, Fraction], int]:
    """Split `total` in proportion to `weights`, no unit above its cap; the excess of a capped
    unit goes to the others in the same proportion. Units of weight 0 get nothing.

    Returns:
        `(quotas, left)`: exact shares (capped units at their cap) and what the units of positive
        weight could not take (0 unless they are all full).
    """
    quotas: dict[Hashable, Fraction] = {}
    open_ = [k for k in caps if weights[k] > 0 and caps[k] > 0]
    left = total
    while open_ and left > 0:
        weight = sum(weights[k] for k in open_)
        full = [k for k in open_ if left * weights[k] >= caps[k] * weight]
        if not full:
            quotas.update({k: Fraction(left * weights[k], weight) for k in open_})
            return quotas, 0
        for k in full:
            quotas[k] = Fraction(caps[k])
            left -= caps[k]
        open_ = [k for k in open_ if k not in full]
    return quotas, left


def prune_shares(
    total: int, sap: Mapping[Hashable, int], held: Mapping[Hashable, int]
) -> dict[Hashable, int]:
    """Integer prune counts per unit summing exactly to `total`: in proportion to SAP's counts
    `sap`, capped at `held`, the rest in proportion to what the units still hold.

    Raises:
        ValueError: `total` is negative or above what all units hold.
    """
    if not 0 <= total <= sum(held.values()):
        raise ValueError(f"cannot prune {total} weights from units holding {sum(held.values())}")
    quotas, left = water_fill(total, sap, held)
    if left:  # the units SAP prunes are full: the rest by what the others hold
        room = {k: held[k] - int(quotas.get(k, 0)) for k in held}
        rest, _ = water_fill(left, room, room)
        quotas = {k: quotas.get(k, 0) + rest.get(k, 0) for k in held}
    quotas = {k: quotas.get(k, Fraction(0)) for k in held}
    return round_to_total(quotas, total, held)


@dataclass(frozen=True)
class PQAllocationRule(Rule):
    """The schedule's amount, split between scope units by SAP's prune counts; magnitude within
    a unit (module docstring). The options are SAP's (`PQIndexRule`); `scope`: layer | neuron."""

    p: float = 0.5
    q: float = 1.0
    eta: float = 0.0
    gamma: float = 1.0
    beta: float = 0.9
    scope: str = "layer"

    @property
    def sap_options(self) -> dict[str, float]:
        """SAP's options (`PQIndexRule`'s, less the scope)."""
        return {k: getattr(self, k) for k in ("p", "q", "eta", "gamma", "beta")}

    def __post_init__(self) -> None:
        PQIndexRule(**self.sap_options)  # the same checks of p, q, eta, gamma, beta
        if self.scope not in STEP_SCOPES:
            raise ValueError(
                f"pruning.rule.scope={self.scope}: under a schedule that fixes the sparsity the "
                "PQ index splits the amount between units, and the one global unit leaves it "
                f"nothing to split: use pruning.rule.scope={' or '.join(STEP_SCOPES)}"
            )

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """Exactly keep_total(N, sparsity) kept (or the current masks, when they keep fewer)."""
        total = keep_total(sum(m.numel() for m in masks.values()), sparsity)
        keep = sap_counts(params, masks, self.scope, **self.sap_options)  # SAP's d_u - c_u
        if self.scope == "layer":
            held = {n: int(m.sum()) for n, m in masks.items()}
            sap = {n: held[n] - keep[n] for n in masks}
        else:
            rows = {n: m.flatten(1).sum(1).tolist() for n, m in masks.items()}
            held = {(n, i): int(d) for n, r in rows.items() for i, d in enumerate(r)}
            sap = {(n, i): held[n, i] - keep[n][i] for n, i in held}
        excess = sum(held.values()) - total
        if excess <= 0:
            return {n: m.clone() for n, m in masks.items()}
        cut = prune_shares(excess, sap, held)
        scores = magnitude(params)
        if self.scope == "layer":
            return select(scores, masks, {n: held[n] - cut[n] for n in masks})
        counts = {n: [int(d) - cut[n, i] for i, d in enumerate(r)] for n, r in rows.items()}
        return select_rows(scores, masks, counts)
