"""Claim 1: IMP with late rewinding against its random-reinit and random-prune controls."""

from __future__ import annotations

from typing import Any

from reproduce.budgets import Budget, training_text
from reproduce.stats import COMPARE_RULE, compare, pairwise_verdict
from reproduce.tables import (
    MATCH_POINTS,
    Runs,
    densities,
    level_stats,
    lowest_matching,
    pct,
    points,
    share,
    table,
)

STATEMENT = (
    "At ResNet-20 densities down to about 20%, IMP with rewinding to an early step matches the "
    "dense accuracy better than the same procedure with a random re-initialization, and than "
    "random pruning."
)
CONFIGS = {
    "claim1/imp_rewind": "IMP, rewind to step K",
    "claim1/imp_random_reinit": "random reinit",
    "claim1/imp_random_prune": "random prune",
}


def protocol(b: Budget) -> str:
    return (
        "ResNet-20 (shortcut B), OpenLTH's recipe (SGD momentum 0.9, lr 0.1 x0.1 at 1/2 and 3/4 of "
        f"each level, wd 1e-4). IMP with one global magnitude threshold: level 0 is the dense "
        f"training, then {b.imp_levels} levels each pruning {b.imp_fraction:g} of the remaining "
        f"weights (two OpenLTH levels of 0.2 at a time), rewinding to step {b.rewind_step}. "
        "Controls, same rewind point, both from the IMP run's masks of every level "
        "(`pruning.masks_from`): random reinit (those masks on a fresh initialization) and "
        "random prune (each layer's mask shuffled: the IMP run's per-layer counts at random "
        "positions). Level 0 is the same dense training in all three: bit-identical on a CPU, "
        "slightly different on a GPU (nondeterministic kernels). "
        f"{training_text(b)}."
    )


def analyse(runs: Runs, rewind_step: int) -> dict[str, Any]:
    """Per-level accuracies of the three configs and the verdict at the sparsest level."""
    acc = {c: level_stats(runs, c, "test/acc") for c in CONFIGS}
    density = densities(runs, "claim1/imp_rewind")
    rewind = acc["claim1/imp_rewind"]
    dense = rewind[0] if rewind else None
    rows = []
    for level, d in enumerate(density):
        cells = [pct(acc[c][level]) if level < len(acc[c]) else "" for c in CONFIGS]
        rows.append([str(level), share(d), *cells, points(rewind[level], dense)])
    columns = ["level", "remaining weights", *CONFIGS.values(), "rewind - dense (points)"]
    last = len(density) - 1
    at_last = {c: acc[c][last] if 0 <= last < len(acc[c]) else None for c in CONFIGS}
    outcomes = {c: compare(at_last["claim1/imp_rewind"], at_last[c]) for c in list(CONFIGS)[1:]}
    matching = {CONFIGS[c]: lowest_matching(density, acc[c], dense) for c in CONFIGS}
    reason = (
        f"At the sparsest level ({share(density[last] if density else None)} of weights): "
        + "; ".join(
            f"{CONFIGS[c]} {pct(at_last[c])}%"
            + (f" (rewind is {o})" if (o := outcomes.get(c)) else "")
            for c in CONFIGS
        )
        + f". Dense (level 0): {pct(dense)}%. Lowest density within {MATCH_POINTS:g} point of "
        "dense: " + ", ".join(f"{name} {share(d) or 'none'}" for name, d in matching.items()) + "."
    )
    return {
        "claim": 1,
        "title": "Lottery tickets with late rewinding",
        "statement": STATEMENT,
        "tables": [
            table(
                f"Test accuracy (%) at the end of each IMP level (mean ± std over seeds); rewind "
                f"point K = {rewind_step} optimizer steps for all three; level 0 is the dense "
                "training.",
                columns,
                rows,
            )
        ],
        "verdict": pairwise_verdict(outcomes.values()),
        "rule": (
            "At the sparsest level, IMP with rewinding is compared with each control. "
            f"{COMPARE_RULE} Reproduced: it beats both clearly; partly: it is ahead of both, or "
            "beats one clearly; not reproduced: otherwise."
        ),
        "reason": reason,
        "data": {"density": density, "acc": acc, "matching": matching},
    }
