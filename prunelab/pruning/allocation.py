"""How many weights each layer keeps, as exact integers.

Every `*_counts` function takes a target *sparsity* (fraction of prunable weights that are zero)
and returns `dict[name, int]` of weights to keep per layer, ready for `select`. The one rounding
rule for a whole-network target is `keep_total`; per-layer shares are rounded with the largest
remainder method (`round_to_total`) so that the total is always exactly `keep_total`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase
from fractions import Fraction

import torch

from prunelab.errors import ConfigError
from prunelab.pruning.selection import top_k_mask


def keep_total(n_total: int, sparsity: float) -> int:
    """Weights kept out of `n_total` at a target sparsity: round((1 - sparsity) * n_total).

    Python's `round` (half to even) on the float product; the single rounding rule used for
    every whole-network or per-layer target.
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must lie in [0, 1], got {sparsity}")
    return round((1.0 - sparsity) * n_total)


def round_to_total(
    quotas: Mapping[str, float | Fraction], total: int, caps: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Integer counts near real-valued quotas that sum exactly to `total` (largest remainder).

    Each layer first gets floor(quota), capped to [0, cap]. The units still missing go one each
    to the layers with the largest fractional remainder that still have room (ties: earlier layer
    first), round after round if needed; a surplus is taken back from the smallest remainders.
    Without caps every count is floor or ceil of its quota whenever the quotas sum to `total`
    within one unit per layer. Quotas may be `Fraction`s, for exact floors.

    Raises:
        ValueError: `total` is above the sum of the caps or below 0.
    """
    caps = dict(caps) if caps is not None else {n: math.inf for n in quotas}
    if not 0 <= total <= sum(caps.values()):
        raise ValueError(f"cannot place {total} kept weights in layers of capacity {caps}")
    counts = {n: int(min(max(math.floor(q), 0), caps[n])) for n, q in quotas.items()}
    order = list(quotas)
    remainder = {n: quotas[n] - counts[n] for n in order}
    missing = total - sum(counts.values())
    while missing > 0:
        room = [n for n in order if counts[n] < caps[n]]
        for n in sorted(room, key=lambda n: -remainder[n])[:missing]:  # stable: ties by order
            counts[n] += 1
            remainder[n] -= 1
            missing -= 1
    while missing < 0:
        spare = [n for n in order if counts[n] > 0]
        for n in sorted(spare, key=lambda n: remainder[n])[:-missing]:
            counts[n] -= 1
            remainder[n] += 1
            missing += 1
    return counts


def _actives(masks: Mapping[str, torch.Tensor]) -> dict[str, int]:
    return {n: int(m.sum()) for n, m in masks.items()}


def global_keep_counts(
    scores: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], keep: int
) -> dict[str, int]:
    """Per-layer counts of a global top-`keep` over all active entries, by score.

    The active scores are concatenated in parameter order; among equal scores the lower global
    index is kept (a stable descending sort). Inactive entries can never be kept.

    Raises:
        ValueError: `keep` above the number of active entries (masks only shrink).
    """
    names = list(masks)
    active = [scores[n].flatten()[masks[n].flatten()] for n in names]
    n_active = sum(a.numel() for a in active)
    if not 0 <= keep <= n_active:
        raise ValueError(f"cannot keep {keep} weights: only {n_active} are active")
    if not names:
        return {}
    kept = top_k_mask(torch.cat(active), keep)
    per_layer = torch.split(kept, [a.numel() for a in active])
    return {n: int(k.sum()) for n, k in zip(names, per_layer, strict=True)}


def global_counts(
    scores: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], sparsity: float
) -> dict[str, int]:
    """Per-layer counts of a global top-K by score, K = keep_total(all prunable weights, sparsity).

    Sparsity counts every prunable weight, already pruned ones included.
    """
    n_total = sum(m.numel() for m in masks.values())
    return global_keep_counts(scores, masks, keep_total(n_total, sparsity))


def layerwise_counts(masks: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, int]:
    """The same sparsity in every layer, exact in total.

    Layer l's quota is (1 - sparsity) * n_l, a real number; rounding each layer on its own
    could miss the network total by up to one weight per layer. So counts are floor or ceil of
    the quotas, the ceil going to the largest fractional remainders (ties: earlier layer), such
    that the total is exactly keep_total(N, sparsity). A layer never keeps more than its active
    entries; if an earlier round left it below its quota, its share goes to the other layers.
    """
    numels = {n: m.numel() for n, m in masks.items()}
    total = keep_total(sum(numels.values()), sparsity)
    quotas = {n: (1.0 - sparsity) * k for n, k in numels.items()}
    return round_to_total(quotas, total, caps=_actives(masks))


def table_counts(
    masks: Mapping[str, torch.Tensor],
    table: Mapping[str, float],
    default: float | None = None,
) -> dict[str, int]:
    """Per-layer sparsities from an explicit table of name globs.

    Each layer takes the sparsity of the first glob (in table order) that matches its name, or
    `default`; it keeps exactly keep_total(n_l, s_l) weights.

    Raises:
        ConfigError: a glob matches no layer (a typo), or a layer matches no glob and there is
            no default.
        ValueError: a layer would keep more weights than it has active (masks only shrink).
    """
    for glob in table:
        if not any(fnmatchcase(n, glob) for n in masks):
            raise ConfigError(f"sparsity table glob {glob!r} matches no layer of {list(masks)}")
    counts = {}
    for name, mask in masks.items():
        layer_sparsity = next((s for g, s in table.items() if fnmatchcase(name, g)), default)
        if layer_sparsity is None:
            raise ConfigError(f"layer {name!r} matches no sparsity table glob and no default")
        counts[name] = keep_total(mask.numel(), layer_sparsity)
        active = int(mask.sum())
        if counts[name] > active:
            raise ValueError(f"{name}: would keep {counts[name]} weights, only {active} active")
    return counts
