"""Claim 2: global against layerwise one-shot magnitude pruning, and the minimum threshold (MT)
against layer collapse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reproduce.budgets import Budget, training_text
from reproduce.stats import COMPARE_RULE, NOT, REPRODUCED, combine, compare, pairwise_verdict
from reproduce.tables import Runs, final, pct, points, table

STATEMENT = (
    "Global magnitude pruning beats layerwise magnitude pruning at high sparsity (95%+), and the "
    "minimum threshold prevents layer collapse where plain global pruning would empty a layer."
)
LABELS = {"global": "global", "global_mt": "global + MT", "layerwise": "layerwise"}


def emptied(layers: Mapping[int, Mapping[str, Any]]) -> str:
    """The most layers any seed's network has with no weight left, e.g. `0` or `2`."""
    return str(max((len(v["emptied"]) for v in layers.values()), default=0)) if layers else ""


def finetuned(runs: Runs, layers: Mapping, sparsities: Sequence[float]):
    """Table A and its per-sparsity outcomes (global against layerwise)."""
    rows, outcomes = [], []
    for s in sparsities:
        acc = {a: final(runs, f"claim2/{a}_s{s:g}") for a in LABELS}
        outcomes.append(compare(acc["global"], acc["layerwise"]))
        empty = " / ".join(emptied(layers.get(f"claim2/{a}_s{s:g}", {})) for a in LABELS)
        rows.append(
            [
                f"{100 * s:g}%",
                *(pct(acc[a]) for a in LABELS),
                points(acc["global"], acc["layerwise"]),
            ]
            + [outcomes[-1] or "", empty]
        )
    columns = ["sparsity", *LABELS.values(), "global - layerwise (points)", "global is"]
    columns.append("layers emptied (" + " / ".join(LABELS.values()) + ")")
    return rows, columns, outcomes


def mt_cells(records: Sequence[Mapping], key: str) -> tuple[list[str], int | None]:
    """Table cells of one MT setting over the seeds' records, and its most emptied layers (None
    where the minimum threshold is infeasible at this sparsity)."""
    found = [r.get(key, {"infeasible": True}) for r in records]
    if any(r.get("infeasible") for r in found):
        return ["infeasible", ""], None
    empty = max(len(r["emptied"]) for r in found)
    return [str(min(r["min_kept"] for r in found)), str(empty)], empty


def collapse(grid: Sequence[float], per_seed: Mapping, mts: Sequence[float]):
    """Table B (masks of the trained dense networks, no training) and the collapse verdict.

    At a sparsity where plain global pruning empties a layer, MT counts as preventing collapse
    when the first feasible threshold of `mts` (the paper's 0.05% first) leaves no layer empty.
    """
    rows, collapsing, prevented, no_mt = [], [], [], []
    for i, s in enumerate(grid):
        records = [records[i] for records in per_seed.values() if i < len(records)]
        if not records:
            continue
        empty = max(len(r["global"]["emptied"]) for r in records)
        names = sorted({n for r in records for n in r["global"]["emptied"]})
        row = [f"{100 * s:g}%", str(min(r["global"]["min_kept"] for r in records)), str(empty)]
        row.append(", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else ""))
        first = None
        for mt in mts:
            cells, mt_empty = mt_cells(records, f"mt{mt:g}")
            row += cells
            first = mt_empty if first is None else first
        rows.append(row)
        if empty and first is None:
            no_mt.append(s)
        elif empty:
            collapsing.append(s)
            prevented.append(first == 0)
    shown = ", ".join(f"{100 * s:g}%" for s in collapsing)
    note = (
        f" (it also does at {', '.join(f'{100 * s:g}%' for s in no_mt)}, where no MT is feasible)"
    )
    note = note if no_mt else ""
    if not collapsing:
        top = f"{100 * max(grid):g}%" if grid else "any sparsity"
        why = f"plain global pruning empties no layer where an MT is feasible, up to {top}{note}"
        return rows, NOT, why
    if all(prevented):
        return (
            rows,
            REPRODUCED,
            f"plain global pruning empties a layer at {shown}{note}; MT keeps every layer there",
        )
    return (
        rows,
        NOT,
        f"plain global pruning empties a layer at {shown}{note}; MT does not prevent it",
    )


def protocol(b: Budget) -> str:
    return (
        "ResNet-20, dense training with OpenLTH's recipe (the dense runs claim 5 shares), then "
        "one-shot magnitude pruning of its final weights at "
        + ", ".join(f"{100 * s:g}%" for s in b.oneshot_sparsities)
        + " sparsity (global; global + MT; layerwise) and "
        f"{b.finetune_epochs * b.batches_per_epoch} steps of fine-tuning (SGD momentum 0.9, lr "
        "0.05 cosine to 0, wd 1e-4). Layer collapse: the one-shot masks of the dense networks at "
        + ", ".join(f"{100 * s:g}%" for s in b.collapse_grid)
        + f" (no training). {training_text(b)}."
    )


def analyse(runs: Runs, extra: Mapping[str, Any], sparsities: Sequence[float]) -> dict[str, Any]:
    """`extra`: `grid`, `mt_percents`, `collapse` ({seed: `measures.collapse_records` over the
    grid}), `layers` ({config: {seed: `measures.mask_report`}} of the fine-tuned runs) and
    `mt_used` ({sparsity: the MT percent of the fine-tuned `global_mt` runs})."""
    rows_a, columns_a, outcomes = finetuned(runs, extra.get("layers", {}), sparsities)
    for row, s in zip(rows_a, sparsities):
        row.insert(1, f"{extra.get('mt_used', {}).get(f'{s:g}', '')}")
    columns_a.insert(1, "MT (% of all weights)")
    grid, mts = extra.get("grid", []), extra.get("mt_percents", [])
    rows_b, verdict_b, why_b = collapse(grid, extra.get("collapse", {}), mts)
    verdict_a = pairwise_verdict(outcomes)
    dense = final(runs, "dense/none")
    reason = (
        f"Global against layerwise after fine-tuning: {', '.join(o or '-' for o in outcomes)} at "
        + ", ".join(f"{100 * s:g}%" for s in sparsities)
        + f" ({verdict_a}); the dense networks they start from: {pct(dense)}%. Collapse: {why_b} "
        f"({verdict_b})."
    )
    return {
        "claim": 2,
        "title": "Global beats layerwise; the minimum threshold prevents layer collapse",
        "statement": STATEMENT,
        "tables": [
            table(
                "Test accuracy (%) after one-shot pruning of the trained dense network and "
                "fine-tuning (mean ± std over seeds). MT: the paper's 0.05% of all prunable "
                "weights where feasible, else the next feasible threshold (column 2).",
                columns_a,
                rows_a,
            ),
            table(
                "Layer collapse: one-shot masks of the trained dense networks (no fine-tuning); "
                "the fewest weights any layer keeps (min over seeds) and the most layers left "
                "empty (max over seeds).",
                ["sparsity", "global: fewest kept", "global: layers emptied", "emptied layers"]
                + [f"MT {mt:g}%: {what}" for mt in mts for what in ("fewest kept", "emptied")],
                rows_b,
            ),
        ],
        "verdict": combine(verdict_a, verdict_b),
        "rule": (
            f"Global against layerwise at each fine-tuned sparsity. {COMPARE_RULE} Part A is "
            "reproduced when global beats layerwise clearly at every sparsity, partly when it is "
            "ahead at every one or clearly ahead at some. Part B is reproduced when plain global "
            "pruning empties a layer somewhere on the grid and MT (the first feasible threshold "
            "of the table's, the paper's 0.05% first) leaves no layer empty there. "
            "The claim is reproduced when both parts are, partly when one part is at least partly."
        ),
        "reason": reason,
        "data": {"outcomes": outcomes, "verdict_a": verdict_a, "verdict_b": verdict_b},
    }
