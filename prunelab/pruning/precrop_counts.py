"""Counting channel plans: the cost of group counts, and the counts that meet a budget.

Steps 2 and 3 of PreCropping (see `prunelab.pruning.precrop`): a channel group keeps
a_g = p_g ** exponent of its channels, p_g the weight-averaged density of its output layers,
rounded (to a multiple, optionally), at least one; the classifier's outputs are never cut. One
common factor t rescales the densities (p_l -> min(1, t p_l)) and is found by bisection so the
narrow network's prunable weights (or their MACs) come closest to the budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prunelab.pruning.channels import PLAN_VERSION, Structure

BUDGETS = ("params", "macs")


def plan_weights(structure: Structure, counts: Sequence[int]) -> dict[str, int]:
    """Weights of every layer when group i keeps `counts[i]` channels (exact integers)."""
    kept = {}
    for name, full in structure.weights.items():
        c_out = structure.groups[structure.out_group[name]].width
        c_in = structure.in_channels[name]
        g_in = structure.in_group.get(name)
        # A Linear after a flatten reads each channel several times (e.g. 7x7 positions).
        per_pair = full // (c_out * c_in)
        k_in = c_in if g_in is None else counts[g_in] * c_in // structure.groups[g_in].width
        kept[name] = per_pair * counts[structure.out_group[name]] * k_in
    return kept


def plan_cost(structure: Structure, counts: Sequence[int], budget: str) -> int:
    """Prunable weights (`params`) or their MACs per image (`macs`) of the planned network."""
    kept = plan_weights(structure, counts)
    if budget == "params":
        return sum(kept.values())
    return sum(k * structure.positions[n] for n, k in kept.items())


def full_counts(structure: Structure) -> list[int]:
    """Every group at full width."""
    return [g.width for g in structure.groups]


def round_channels(ratio: float, width: int, multiple: int = 1) -> int:
    """`ratio * width` channels rounded to a multiple of `multiple`, at least one multiple and at
    most `width`; a group no wider than the multiple stays whole."""
    if width <= multiple:
        return width
    return min(width, multiple * max(1, round(ratio * width / multiple)))


def group_counts(
    structure: Structure,
    densities: Mapping[str, float],
    scale: float,
    exponent: float,
    multiple: int = 1,
) -> list[int]:
    """Channels kept per group for densities rescaled by `scale` (step 2 of the module doc)."""
    counts = []
    for group in structure.groups:
        if structure.classifier in group.outputs:
            counts.append(group.width)
            continue
        sizes = {name: structure.weights[name] for name in group.outputs}
        kept = sum(min(1.0, scale * densities[name]) * n for name, n in sizes.items())
        ratio = (kept / sum(sizes.values())) ** exponent
        counts.append(round_channels(ratio, group.width, multiple))
    return counts


def fit_counts(
    structure: Structure,
    densities: Mapping[str, float],
    density: float,
    budget: str = "params",
    exponent: float = 0.5,
    multiple: int = 1,
) -> list[int]:
    """Group counts whose cost is closest to `density` x the full network's (step 3).

    `multiple`: counts are multiples of it (CPU/GPU kernels work in blocks of 8 or 16 channels,
    so 5 channels cost as much time as 8 or 16); 1 = any count.

    Raises:
        ValueError: densities for other layers than the structure's, a bad budget, or a target
            below what one channel per group already costs.
    """
    if set(densities) != set(structure.weights):
        raise ValueError(f"densities for {sorted(densities)}, layers are {list(structure.weights)}")
    if budget not in BUDGETS:
        raise ValueError(f"budget {budget!r} is not one of {BUDGETS}")
    target = density * plan_cost(structure, full_counts(structure), budget)

    def cost(counts: list[int]) -> int:
        return plan_cost(structure, counts, budget)

    lo, hi = 0.0, 1.0 / max(min((p for p in densities.values() if p > 0), default=1.0), 1e-12)
    if not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"channel multiple must be an integer >= 1, got {multiple!r}")

    def counts_at(scale: float) -> list[int]:
        return group_counts(structure, densities, scale, exponent, multiple)

    smallest = cost(counts_at(lo))
    if smallest > target:
        raise ValueError(
            f"density {density} is below {multiple} channel(s) per layer ({smallest} of "
            f"{target / density:.0f} {budget})"
        )
    for _ in range(100):  # cost is monotone in the scale: bisect to the step that crosses target
        mid = (lo + hi) / 2
        if cost(counts_at(mid)) >= target:
            hi = mid
        else:
            lo = mid
    return _refine(counts_at(lo), counts_at(hi), lambda c: cost(c) - target, multiple)


def _refine(below: list[int], above: list[int], gap, multiple: int) -> list[int]:
    """The closest to the target on a path from `below` to `above`, one step at a time.

    Several groups can cross a rounding step at the same scale (equal widths and densities), so
    `above` may overshoot by many channels; stepping through them one group by `multiple`
    channels at a time (smallest cost first) keeps the budget within about one step's cost.
    """
    best, current = below, list(below)

    def grown(i: int) -> list[int]:
        return current[:i] + [min(above[i], current[i] + multiple)] + current[i + 1 :]

    while gap(current) < 0:
        options = [i for i, (c, a) in enumerate(zip(current, above, strict=True)) if c < a]
        if not options:
            break
        current = grown(min(options, key=lambda i: gap(grown(i))))
        if abs(gap(current)) < abs(gap(best)):
            best = list(current)
    return best


def make_plan(structure: Structure, counts: Sequence[int], **meta: Any) -> dict[str, Any]:
    """The plain-data plan for group counts; `meta` (source, density, ...) is stored alongside."""
    widths = {n: structure.groups[i].width for n, i in structure.out_group.items()}
    channels = {n: int(counts[i]) for n, i in structure.out_group.items()}
    order = list(structure.weights)
    return {
        "version": PLAN_VERSION,
        "input_shape": [int(s) for s in structure.input_shape],
        "widths": {n: widths[n] for n in order},
        "channels": {n: channels[n] for n in order},
        **meta,
    }
