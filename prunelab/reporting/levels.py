"""The per-level table of level methods (IMP, LTH, SAP): at each level, the density reached and
the test accuracy, mean ± sample std over seeds, as report_levels.csv and report_levels.md.

The main table groups stages by their sparsity (so they sit beside other methods on one axis);
this one groups them by level index within each method (and the report's split keys), which is
how the papers tabulate IMP: level L of every seed together, whatever density each reached (SAP's
adaptive levels differ a little between seeds; the std shows by how much).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prunelab.atomic import write_text
from prunelab.reporting.points import Point
from prunelab.reporting.summary import mean_pm, seed_stat

FIGURES = ("density", "test/acc", "test/loss")


@dataclass(frozen=True)
class Level:
    """Level `level` of one method (and split) over its replicates."""

    method: str
    split: tuple[tuple[str, Any], ...]
    level: int
    seeds: tuple
    mean: dict[str, float]
    std: dict[str, float | None]  # None: fewer than two replicates


def _figures(point: Point) -> dict[str, float]:
    found = dict(point.figures)
    if "sparsity" in found:
        found["density"] = 1.0 - found["sparsity"]
    return {name: found[name] for name in FIGURES if name in found}


def level_rows(points: Iterable[Point]) -> list[Level]:
    """The stages of `points` grouped by (method, split, level index), each figure's mean and
    sample std over the replicates; single-stage points are left out."""
    groups: dict[tuple, list[Point]] = defaultdict(list)
    for point in points:
        if point.stage is not None:
            groups[(point.method, point.split, point.stage)].append(point)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], str(k[1]), k[2])):
        members = groups[key]
        values: dict[str, list[float]] = defaultdict(list)
        for point in members:
            for name, value in _figures(point).items():
                values[name].append(value)
        stats = {n: seed_stat(v) for n, v in values.items()}
        mean, std = {n: m for n, (m, _) in stats.items()}, {n: d for n, (_, d) in stats.items()}
        rows.append(Level(*key, tuple(p.seed for p in members), mean, std))
    return rows


def write_levels_csv(rows: Sequence[Level], path: Path, by: Sequence[str] = ()) -> Path:
    """One line per level, figures as fractions at full precision; empty = not available."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    stats = [f"{name}_{stat}" for name in FIGURES for stat in ("mean", "std")]
    writer.writerow(["method", *by, "level", "runs", "seeds", *stats])
    for row in rows:
        cells = [row.method, *(v for _, v in row.split), row.level, len(row.seeds)]
        cells += [" ".join(map(str, row.seeds))]
        cells += [getattr(row, s).get(n) for n in FIGURES for s in ("mean", "std")]
        writer.writerow(["" if c is None else c for c in cells])
    write_text(path, handle.getvalue())
    return Path(path)


def write_levels_markdown(rows: Sequence[Level], path: Path, by: Sequence[str] = ()) -> Path:
    """The levels as a GitHub Markdown table, in percent (mean ± sample std over seeds)."""
    header = ["method", *by, "level", "runs", "density (%)", "test acc (%)", "test loss"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in rows:
        cells = [row.method, *(str(v) for _, v in row.split), str(row.level), str(len(row.seeds))]
        cells += [mean_pm(row, "density", 100, 2), mean_pm(row, "test/acc", 100, 2)]
        cells += [mean_pm(row, "test/loss", 1, 4)]
        lines.append("| " + " | ".join(cells) + " |")
    write_text(path, "\n".join(lines) + "\n")
    return Path(path)
