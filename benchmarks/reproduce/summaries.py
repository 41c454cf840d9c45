"""From finished runs to a claim's `summary.json` (tables, verdict, sources) and its figure."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reproduce import granet, lottery, magnitude, measures, pq, precrop, stability
from reproduce.budgets import BUDGETS, Budget
from reproduce.claims import MT_PERCENTS, Task, claim_stages, claim_tasks, mt_for
from reproduce.runner import is_done, shown
from reproduce.stats import read_results
from reproduce.tables import Runs

MODULES = {1: lottery, 2: magnitude, 3: granet, 4: pq, 5: precrop, 6: stability}
# what a reader of prunelab-report's figure must know, per claim
FIGURE_NOTES = {
    4: "SAP's adaptive densities differ slightly between seeds: each SAP point is one level, at "
    "its mean density over seeds.",
    5: "PreCropping's narrow network has no zero weights: it is drawn at its share of the full "
    "network's prunable weights.",
}
# prunelab-report's --by keys per claim (its folders: those of the claim's runs); claim 6's
# figure is not prunelab-report's (its analyses are under each run's stability/ folder)
FIGURE_BY = {
    1: ["pruning.control"],
    2: ["pruning.allocation", "pruning.min_threshold"],
    3: [],
    4: [],
    5: [],
}


def load_runs(tasks: Sequence[Task], root: Path) -> Runs:
    runs: dict[str, dict[int, dict]] = {}
    for task in tasks:
        results = read_results(task.run_dir(root))
        if results is not None:
            runs.setdefault(task.arm, {})[task.seed] = results
    return runs


def checkpoint(root: Path, key: str) -> Path:
    return root / key / "checkpoints" / "last.ckpt"


def claim2_extra(tasks: Sequence[Task], root: Path, budget: Budget) -> dict[str, Any]:
    """Layer collapse of the dense networks' one-shot masks, and the fine-tuned runs' masks."""
    collapse = {
        t.seed: measures.collapse_records(
            measures.trained_weights(checkpoint(root, t.key)), budget.collapse_grid, MT_PERCENTS
        )
        for t in tasks
        if t.group == "dense" and is_done(t, root)
    }
    layers: dict[str, dict[int, Any]] = {}
    for t in tasks:
        if t.group == "claim2" and is_done(t, root):
            report = measures.mask_report(checkpoint(root, t.key))
            layers.setdefault(f"claim2/{t.config}", {})[t.seed] = report
    used = {f"{s:g}": mt_for(s) for s in budget.oneshot_sparsities}
    extra = {"grid": list(budget.collapse_grid), "mt_percents": list(MT_PERCENTS)}
    return {**extra, "collapse": collapse, "layers": layers, "mt_used": used}


def claim5_speed(tasks, root: Path, budget: Budget, threads: int, say) -> dict[str, Any]:
    """PreCropping step times per density, measured once and kept in claim5/speed.json."""
    path = root / "claim5" / "speed.json"
    speed = json.loads(path.read_text()) if path.is_file() else {}
    for density in budget.precrop_densities:
        first = (t for t in tasks if t.arm == f"claim5/precrop_d{density:g}")
        ckpt = checkpoint(root, next(first).key)
        if f"{density:g}" in speed or not ckpt.is_file():
            continue
        say(f"timing PreCropping at density {density:g} against dense ({budget.speed_reps} reps)")
        speed[f"{density:g}"] = measures.precrop_timing(ckpt, budget.speed_reps, threads)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(speed, indent=2) + "\n")
    return speed


def shorter(arg: str) -> str:
    """A path argument relative to the working directory when it lies below it."""
    path = Path(arg)
    if not path.is_absolute() or not path.is_relative_to(Path.cwd()):
        return arg
    return str(path.relative_to(Path.cwd()))


def figure_folders(tasks: Sequence[Task]) -> list[str]:
    """The folders prunelab-report reads: a claim's own folder whole, runs of others singly."""
    claim = tasks[-1].group
    own = [t.key.split("/")[0] for t in tasks if t.group == claim]
    return list(dict.fromkeys([*own, *(t.key for t in tasks if t.group != claim)]))


def make_figure(claim: int, tasks, root: Path, out: Path) -> tuple[Path | None, str]:
    """prunelab-report over the claim's runs into `out` (its log: `<root>/claim<N>/report.log`);
    (the figure or None, the command)."""
    by = FIGURE_BY[claim]
    paths = [str(root / f) for f in figure_folders(tasks) if (root / f).exists()]
    args = [*paths, "--out", str(out), *(a for key in by for a in ("--by", key))]
    shown = "prunelab-report " + " ".join(shorter(a) for a in args)
    if not paths:
        return None, shown
    out.mkdir(parents=True, exist_ok=True)
    (root / f"claim{claim}").mkdir(parents=True, exist_ok=True)
    with (root / f"claim{claim}" / "report.log").open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "prunelab.reporting", *args], stdout=log, stderr=log
        )
    figure = out / "report.png"
    return (figure if done.returncode == 0 and figure.is_file() else None), shown


def driver(claim: int, budget: Budget) -> str:
    """The reproduce.py command that ran the claim (its seeds when they are not the budget's)."""
    line = f"python benchmarks/reproduce.py --budget {budget.name} --claims {claim}"
    chosen = ",".join(map(str, budget.seeds))
    return line if budget.seeds == BUDGETS[budget.name].seeds else f"{line} --seeds {chosen}"


def summarize(
    claim: int,
    budget: Budget,
    data: tuple[str, ...],
    root: Path,
    out: Path,
    threads: int,
    say: Callable[[str], None] = print,
    machine: str | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Analyse claim `claim` from its finished runs; write `out/summary.json` and the figure
    `out/report.png` (paths in the summary are relative to `out`, so it can be committed)."""
    tasks = claim_tasks(claim, budget)
    runs = load_runs(tasks, root)
    module = MODULES[claim]
    hours = 0.0
    if claim == 1:
        summary = module.analyse(runs, budget.rewind_step)
    elif claim == 2:
        summary = module.analyse(runs, claim2_extra(tasks, root, budget), budget.oneshot_sparsities)
    elif claim == 3:
        summary = module.analyse(runs, budget.gradual_sparsities)
    elif claim == 4:
        summary = module.analyse(runs)
    elif claim == 5:
        speed = claim5_speed(tasks, root, budget, threads, say)
        summary = module.analyse(runs, speed, budget.precrop_densities)
    else:
        summary = module.measure(tasks, budget, root, threads, jobs)
        hours = summary.pop("analysis_hours")
    if claim == 6:  # its figure is drawn from the summary (reproduce.redraw), with the document
        figure = out / "report.png"
        command = f"python benchmarks/reproduce/redraw.py {shorter(str(out.parent))}"
    else:
        figure, command = make_figure(claim, tasks, root, out)
    done = [t for t in tasks if is_done(t, root)]
    summary.update(
        protocol=module.protocol(budget),
        machine=machine,
        budget=budget.name,
        commands=[shown(stage, data) for stage in claim_stages(claim, budget)],
        driver=driver(claim, budget),
        figure=None if figure is None else figure.name,
        figure_command=command,
        figure_note=FIGURE_NOTES.get(claim),
        runs_done=len(done),
        runs_planned=len(tasks),
        run_dirs=sorted(t.key for t in done),
        run_hours=hours + sum(runs[t.arm][t.seed]["wall_time_s"] for t in done) / 3600,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
