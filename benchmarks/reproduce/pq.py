"""Claim 4: the PQ index along SAP's trajectory, and SAP (layer scope) against IMP at equal
accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reproduce.budgets import Budget, training_text
from reproduce.stats import NOT, PARTLY, REPRODUCED, combine
from reproduce.tables import (
    MATCH_POINTS,
    Runs,
    densities,
    interpolate,
    level_stats,
    lowest_matching,
    pct,
    share,
    table,
)

STATEMENT = (
    "Along the SAP/IMP trajectory the PQ index first falls and then rises; SAP with layer scope "
    "reaches a lower density than one-shot/IMP at equal accuracy, or it does not (report which)."
)
SAP, IMP = "claim4/sap_layer", "claim1/imp_rewind"
PQ_TOLERANCE = 0.002  # a change of the PQ index smaller than this is not a fall or a rise


def shape(series: Sequence[float]) -> str:
    """`falls-then-rises`, `falls` (no rise after the minimum), or `other`."""
    if len(series) < 2:
        return "other"
    low = min(range(len(series)), key=series.__getitem__)
    fell = series[0] - series[low] > PQ_TOLERANCE
    if fell and low < len(series) - 1 and series[-1] - series[low] > PQ_TOLERANCE:
        return "falls-then-rises"
    return "falls" if fell else "other"


def pq_verdict(shapes: Sequence[str]) -> str:
    if shapes and all(s == "falls-then-rises" for s in shapes):
        return REPRODUCED
    if "falls-then-rises" in shapes or (shapes and all(s == "falls" for s in shapes)):
        return PARTLY
    return NOT


def density_outcome(sap_d, sap_acc, imp_d, imp_acc, dense) -> tuple[str, str]:
    """(`lower` | `not lower` | `undetermined`, explanation) for SAP against IMP."""
    sap_low, imp_low = (
        lowest_matching(sap_d, sap_acc, dense),
        lowest_matching(imp_d, imp_acc, dense),
    )
    text = (
        f"lowest density within {MATCH_POINTS:g} point of dense: SAP {share(sap_low) or 'none'}, "
    )
    text += f"IMP {share(imp_low) or 'none'}"
    sparsest = min((d for d in sap_d if d is not None), default=None)
    if sap_low is not None and imp_low is not None and sap_low < imp_low:
        return "lower", text
    if imp_low is not None and sparsest is not None and sparsest >= imp_low and sap_low == sparsest:
        return (
            "undetermined",
            text + f" (SAP's rounds stopped at {share(sparsest)}, still matching)",
        )
    return "not lower", text


def protocol(b: Budget) -> str:
    return (
        f"ResNet-20. SAP with (p, q) = (0.5, 1), layer scope, {b.sap_levels} rounds after the "
        "dense one, on claim 1's recipe and rewind point (step "
        f"{b.rewind_step}) instead of the authors' (cosine, Nesterov, rewind to init), so that it "
        "differs from claim 1's IMP run only in how much it prunes; the PQ index is that of the "
        f"end-of-round weights. {training_text(b)}."
    )


def analyse(runs: Runs) -> dict[str, Any]:
    sap_d, imp_d = densities(runs, SAP), densities(runs, IMP)
    sap_acc, imp_acc = level_stats(runs, SAP, "test/acc"), level_stats(runs, IMP, "test/acc")
    pq = level_stats(runs, SAP, "pq_index")
    dense = imp_acc[0] if imp_acc else None
    known = [(d, a["mean"]) for d, a in zip(imp_d, imp_acc) if d is not None and a]
    rows = []
    for level in range(max(len(sap_d), len(imp_d))):
        s_d = sap_d[level] if level < len(sap_d) else None
        s_a = sap_acc[level] if level < len(sap_acc) else None
        at = interpolate(s_d, *zip(*known)) if s_d is not None and known else None
        gap = "" if at is None or not s_a else f"{100 * (s_a['mean'] - at):+.2f}"
        row = [str(level), share(s_d), pct(s_a), pct(pq[level] if level < len(pq) else None, 3)]
        row += [gap, share(imp_d[level] if level < len(imp_d) else None)]
        rows.append(row + [pct(imp_acc[level] if level < len(imp_acc) else None)])
    shapes = [
        shape([r["pq_index"] for r in results.get("stages") or [] if "pq_index" in r])
        for results in runs.get(SAP, {}).values()
    ]
    verdict_pq = pq_verdict(shapes)
    outcome, why = density_outcome(sap_d, sap_acc, imp_d, imp_acc, dense)
    verdict_d = REPRODUCED if outcome == "lower" else NOT
    reason = (
        f"PQ index per seed: {', '.join(shapes) or 'not measured'} ({verdict_pq}). SAP with layer "
        f"scope reaches a lower density than IMP at equal accuracy: {outcome} ({why}). Dense "
        f"(level 0): {pct(dense)}%."
    )
    columns = ["level", "SAP remaining", "SAP acc", "SAP PQ index (x100)"]
    columns += ["SAP - IMP at SAP's density (points)", "IMP remaining", "IMP acc"]
    return {
        "claim": 4,
        "title": "PQ index and SAP",
        "statement": STATEMENT,
        "tables": [
            table(
                "SAP (p=0.5, q=1, layer scope) and IMP (claim 1's runs), both rewinding to the "
                "same step K with the same recipe, level by level (mean ± std over seeds; IMP's "
                "accuracy at SAP's density interpolated linearly in log density).",
                columns,
                rows,
            )
        ],
        "verdict": combine(verdict_pq, verdict_d),
        "rule": (
            "PQ index: in each seed's sequence over levels, it *falls then rises* when its "
            f"minimum is below the first value by more than {PQ_TOLERANCE} and below the last by "
            f"more than {PQ_TOLERANCE}; reproduced if every seed's does, partly if some seed's "
            "does or every seed's only falls. Density: the lowest level density whose mean "
            f"accuracy is within {MATCH_POINTS:g} point of dense; SAP reproduces when its is lower "
            "than IMP's (`undetermined` when SAP's rounds end above IMP's while still matching). "
            "The claim is reproduced when both parts are, partly when one part is at least partly."
        ),
        "reason": reason,
        "data": {"shapes": shapes, "density_outcome": outcome, "pq": pq},
    }
