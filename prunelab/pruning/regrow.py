"""GraNet's zero-cost neuroregeneration (Liu et al. 2021; ALGORITHMS.md section 3).

Per layer: drop the ceil(r * nnz) active weights of smallest magnitude, then regrow as many at the
positions with the largest gradient magnitude, so each layer's kept count is unchanged.

Which positions may regrow, as in GraNet's code (`truncate_weights` / `gradient_growth`): every
position inactive *after* the drop, so a weight dropped in this very step is eligible again. GraNet
only multiplies the weights by the mask after both drop and regrowth, so a dropped-and-regrown
weight keeps its value; only positions inactive before the step start from 0. We return exactly
those (new and not old) as `regrown`, for the caller to zero with their optimizer state.

Two things of GraNet's code we do not copy: its drop uses a `>` threshold test (ties drop extra
weights), and its regrowth sorts |grad| with active positions set to 0, so when fewer inactive
positions than needed have a nonzero gradient it re-picks active ones and the layer shrinks.
Here ties are broken by index and only inactive positions are ever regrown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from prunelab.pruning.selection import select


def drop_count(fraction: float, active: int) -> int:
    """ceil(fraction * active), with the product rounded to 1e-9 first: float noise such as
    0.1 * 30 = 3.0000000000000004 must not drop an extra weight."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"regrowth fraction must lie in [0, 1], got {fraction}")
    return min(active, math.ceil(round(fraction * active, 9)))


def prune_and_regrow(
    masks: Mapping[str, torch.Tensor],
    weights: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    fraction: float,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One drop-and-regrow step over every layer of the mask set.

    Args:
        masks: current mask set.
        weights: the (masked) weights, for the drop by |w|; ties: the higher index is dropped.
        grads: the dense gradients of the current batch, for the regrowth by |grad|; pruned
            positions still get a gradient because the weight is present (at zero) in the forward.
            Ties: the lower index is regrown.
        fraction: r, the share of each layer's active weights to drop (GraNet's death rate).

    Returns:
        `(new_masks, regrown)`: the new mask set, with each layer's kept count unchanged, and per
        layer the positions that became active (True in new, False in old). Those weights and
        their momentum must start at 0: they already are when masks have been enforced every step,
        and `apply_masks` / `zero_momentum` with `{n: ~regrown[n]}` make sure of it.
    """
    new_masks, regrown = {}, {}
    for name, mask in masks.items():
        active = int(mask.sum())
        n_drop = drop_count(fraction, active)
        if n_drop == 0:
            new_masks[name], regrown[name] = mask.clone(), torch.zeros_like(mask)
            continue
        one = {name: mask}
        survivors = select({name: weights[name].detach().abs()}, one, {name: active - n_drop})
        eligible = ~survivors[name]
        grown = select({name: grads[name].detach().abs()}, {name: eligible}, {name: n_drop})
        new_masks[name] = survivors[name] | grown[name]
        regrown[name] = new_masks[name] & ~mask
    return new_masks, regrown
