"""The run's final figures: results.json (the run-directory contract) and the printed table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from torch import nn

from prunelab.atomic import write_text
from prunelab.counting import count_macs, count_params
from prunelab.pruning.targets import prunable_parameters

CONTRACT_KEYS = (
    "test/acc",
    "test/loss",
    "sparsity",
    "params/total",
    "params/nonzero",
    "macs/dense",
    "macs/nonzero",
    "wall_time_s",
    "stages",
)


def measure(network: nn.Module, input_shape: tuple[int, ...], exclude: Sequence[str] = ()) -> dict:
    """Sparsity, parameter and MAC counts of `network` as it is now (measured, not targeted).

    `sparsity` is the fraction of zero weights among the prunable tensors (conv and linear weights
    not excluded by the pruning method), so a dense run reports 0.
    """
    prunable = prunable_parameters(network, exclude)
    n = sum(p.numel() for p in prunable.values())
    zeros = sum(p.numel() - int(p.count_nonzero()) for p in prunable.values())
    total, nonzero = count_params(network, prunable_parameters(network))
    macs_dense, macs_nonzero = count_macs(network, input_shape)
    return {
        "sparsity": zeros / n if n else 0.0,
        "params/total": total,
        "params/nonzero": nonzero,
        "macs/dense": macs_dense,
        "macs/nonzero": macs_nonzero,
    }


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write results.json with the contract's keys first; NaN becomes null (valid JSON)."""
    ordered = {k: results[k] for k in CONTRACT_KEYS if k in results}
    ordered.update({k: v for k, v in results.items() if k not in ordered})
    clean = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in ordered.items()}
    write_text(path, json.dumps(clean, indent=2) + "\n")


# A dense count and its pruned count, shown as one row `params dense → pruned`.
PAIRS = {"params/total": ("params", "params/nonzero"), "macs/dense": ("MACs", "macs/nonzero")}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _rows(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The table's (label, value) rows in `results`' order, one per figure, except that a dense
    count and its pruned count held together make one row: `272,474 → 28,668 (10.5%)`."""
    paired = {pruned for dense, (_, pruned) in PAIRS.items() if {dense, pruned} <= results.keys()}
    rows = []
    for key, value in results.items():
        if key == "stages" or key in paired or isinstance(value, (list, dict)):
            continue
        name, pruned = PAIRS.get(key, (key, None))
        if pruned in paired:
            kept = f" ({results[pruned] / value:.1%})" if value else ""
            counts = f"{_fmt(value)} → {_fmt(results[pruned])}{kept}"
            rows.append((f"{name} dense → pruned", counts))
        else:
            rows.append((key, _fmt(value)))
    return rows


def print_table(
    results: Mapping[str, Any],
    title: str,
    console: Console | None = None,
    run_dir: Path | None = None,
) -> None:
    """Print the final figures (parameter and MAC counts as dense → pruned beside the accuracy),
    one row per stage for multi-stage methods, then `run_dir` on a line of its own (never
    wrapped inside the title)."""
    console = console or Console()
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in _rows(results):
        table.add_row(key, value)
    console.print(table)
    stages = results.get("stages") or []
    if stages:
        keys = list(dict.fromkeys(k for stage in stages for k in stage))
        per_stage = Table(title="stages", show_header=True)
        for key in keys:
            per_stage.add_column(key, justify="right")
        for stage in stages:
            per_stage.add_row(*(_fmt(stage.get(k, "")) for k in keys))
        console.print(per_stage)
    if run_dir is not None:
        console.print(f"run directory: {run_dir}", soft_wrap=True, highlight=False)
