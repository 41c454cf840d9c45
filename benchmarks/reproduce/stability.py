"""Claim 6 (Frankle et al. 2020, linear mode connectivity): the instability analysis of its runs.

The runs are the sweep `experiment=repro/claim6`: IMP on ResNet-20 with claim 1's recipe, rewound
either to initialization (`claim6/rewind_init_seed<k>`) or to step K (`rewind_step:K_seed<k>`, the
same computation as claim 1's IMP run). Then `prunelab-stability` (the command the preset names)
on each run's sparsest level at its rewind point: two copies trained for one level's budget on two
data orders (seeds 1, 2; masks kept), the test error at 11 points on the line between them,
BatchNorm statistics interpolated (`bn=keep`, as the paper). The claim: at rewind to init the
subnetwork is unstable (a clear error barrier), at rewind to step K its barrier is small.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reproduce.budgets import Budget
from reproduce.claims import Task
from reproduce.runner import environment, is_done
from reproduce.stats import CLEAR, NOT, PARTLY, REPRODUCED, compare, stat

CONFIGS = {"claim6/imp_init": "init", "claim6/imp_rewind": "step K"}


def analyse(run_dir: Path, level: int, budget: Budget, threads: int) -> Path:
    """Run `prunelab-stability` on `run_dir`'s level at its rewind point; its stability.json."""
    out = run_dir / "stability" / f"level{level}"
    if (out / "stability.json").is_file():
        return out / "stability.json"
    args = [
        sys.executable, "-m", "prunelab.stability.cli",
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"level={level}",
        f"epochs={budget.epochs}", "seeds=[1,2]", "points=11", "bn=keep",
        f"hydra.run.dir={out}",
    ]  # fmt: skip
    if budget.test_batches is not None:
        args.append(f"test_batches={budget.test_batches}")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "stdout.log").open("w") as log:
        subprocess.run(args, env=environment(threads), stdout=log, stderr=subprocess.STDOUT)
    return out / "stability.json"


def summarize(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Barrier and copies' errors (percentage points) per rewind point, mean and std over seeds."""

    return {
        name: {
            "barrier": stat(100 * r["barrier"] for r in runs),
            "endpoint_error": stat(100 * statistics.fmean(r["copy_errors"]) for r in runs),
            "distance": stat(r["distance"]["copies"] for r in runs),
            "sparsity": runs[0]["sparsity"],
            "errors": [[100 * e for e in r["errors"]] for r in runs],
        }
        for name, runs in results.items()
        if runs
    }


def measure(
    tasks: Sequence[Task], budget: Budget, root: Path, threads: int, jobs: int = 1
) -> dict[str, Any]:
    """Analyse each finished run's sparsest level (analyses already made are read back);
    claim 6's summary, with the analyses' folders and hours."""
    level = budget.imp_levels
    runs = [(CONFIGS[t.arm], t.run_dir(root)) for t in tasks if is_done(t, root)]
    with ThreadPoolExecutor(max(1, jobs)) as pool:  # each analysis is its own subprocess
        paths = list(pool.map(lambda run: analyse(run[1], level, budget, threads), runs))
    found: dict[str, list[dict[str, Any]]] = {}
    for (name, _), path in zip(runs, paths, strict=True):
        if path.is_file():
            found.setdefault(name, []).append(json.loads(path.read_text()))
    measured = {"level": level, "budget": budget.describe(), "rewind": summarize(found)}
    summary = claim_summary(measured, budget)
    done = [path for path in paths if path.is_file()]
    summary.update(
        analyses=sorted(str(p.parent.relative_to(root)) for p in done),
        analysis_hours=sum(json.loads(p.read_text())["wall_time_s"] for p in done) / 3600,
    )
    return summary


STATEMENT = (
    "At ResNet-20's sparse IMP levels, the subnetwork rewound to initialization is unstable to "
    "SGD noise (two copies trained on different data orders are separated by a clear error barrier "
    "on the line between them), while the one rewound to an early step K is stable (a barrier "
    "under 2 points, the paper's threshold)."
)
STABLE = 2.0  # points: Frankle et al. 2020 call a barrier under 2% stable


def protocol(b: Budget) -> str:
    return (
        f"IMP runs on claim 1's recipe (ResNet-20, OpenLTH's recipe, {b.imp_levels} levels of "
        f"{b.imp_fraction:g}), rewound to step {b.rewind_step} (the computation of claim 1's IMP "
        "run) or to initialization (`pruning.rewind=init`, otherwise identical): the sweep "
        "`experiment=repro/claim6`. At the sparsest level, the "
        "subnetwork at its rewind point trains twice for one level's budget "
        f"({b.epochs} epochs of {b.batches_per_epoch} batches) on data orders 1 and 2, masks kept, "
        "the learning-rate schedule resumed at the rewind step "
        "(`prunelab-stability level=L seeds=[1,2] bn=keep`); the test error is measured at 11 "
        "points on the line between the two copies (BatchNorm statistics interpolated, as the "
        "paper). Barrier: the largest error on the line minus the mean of the two ends. Seeds "
        f"{', '.join(map(str, b.seeds))} (the IMP runs')."
    )


def _cell(s: dict[str, Any] | None, digits: int = 2) -> str:
    """A stat's mean ± std (std 0 for a single seed), empty when not measured."""
    return "" if not s else f"{s['mean']:.{digits}f} ± {s['std'] or 0:.{digits}f}"


def claim_summary(measured: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """Claim 6's section in the form `reproduce.document` renders (tables, verdict, rule)."""
    rewind = measured["rewind"]
    init, late = rewind.get("init"), rewind.get("step K")
    rows = [
        [name, f"{100 * (1 - r['sparsity']):.2f}%", _cell(r["barrier"]),
         _cell(r["endpoint_error"]), _cell(r["distance"], 1), str(r["barrier"]["n"])]
        for name, r in rewind.items()
    ]  # fmt: skip
    columns = ["rewind to", "remaining weights", "error barrier (points)",
               "copies' test error (%)", "L2 distance between copies", "seeds"]  # fmt: skip
    if init and late:
        clear = compare(init["barrier"], late["barrier"]) == CLEAR  # COMPARE_RULE
        stable = late["barrier"]["mean"] < STABLE
        verdict = REPRODUCED if clear and stable else PARTLY if clear or stable else NOT
        reason = (
            f"Barrier at rewind to init {_cell(init['barrier'])} points, at step "
            f"{budget.rewind_step} {_cell(late['barrier'])}: init is "
            f"{'clearly' if clear else 'not clearly'} less stable; step K is "
            f"{'stable' if stable else 'not stable'} (< {STABLE:g} points)."
        )
    else:
        verdict, reason = NOT, "Not every run of the claim finished."
    return {
        "claim": 6,
        "title": "Instability at rewind to initialization, stability with late rewinding",
        "statement": STATEMENT,
        "protocol": protocol(budget),
        "budget": budget.name,
        "tables": [
            {
                "caption": f"Linear mode connectivity at IMP level {measured['level']} (mean ± std "
                "over seeds): the error barrier on the line between two copies of the rewound "
                "subnetwork, their own test errors, and the L2 distance between them.",
                "columns": columns,
                "rows": rows,
            }
        ],  # fmt: skip
        "verdict": verdict,
        "rule": (
            "Reproduced when the barrier at rewind to init beats the one at step K clearly "
            "(mean - std > mean + std) and the one at step K is under 2 points; partly when one "
            "of the two holds."
        ),
        "reason": reason,
        "data": measured,
    }
