"""Seed statistics per (method, sparsity) group, and the table as CSV, Markdown and on screen."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from prunelab.atomic import write_text
from prunelab.reporting.parts import short
from prunelab.reporting.points import FIGURES, Point


@dataclass(frozen=True)
class Row:
    """One group of replicates: its mean and sample standard deviation (n - 1) per figure.

    `std[k]` is None when fewer than two replicates carry figure k.
    """

    method: str
    split: tuple[tuple[str, Any], ...]
    target: float
    seeds: tuple
    mean: dict[str, float]
    std: dict[str, float | None]

    @property
    def runs(self) -> int:
        return len(self.seeds)

    @property
    def density(self) -> float | None:
        """Mean fraction of prunable weights remaining (the figure's x axis)."""
        sparsity = self.mean.get("sparsity", self.target)
        return None if sparsity is None else 1.0 - sparsity

    @property
    def label(self) -> str:
        """The method, with the `by` values that split it: `gmp (pruning.allocation=erk)`, a
        part by its short name (`gmp (rule=random)`, `prunelab.reporting.parts.short`)."""
        extra = ", ".join(f"{short(k)}={v}" for k, v in self.split)
        return f"{self.method} ({extra})" if extra else self.method


def seed_stat(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1) over replicates; std None for one value. The
    one definition behind the report, its levels table and the reproduction's summaries."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _order(key: tuple) -> tuple:
    method, split, target = key
    return (method != "none", method, str(split), target)  # dense baseline first


def summarize(points: Iterable[Point]) -> list[Row]:
    """Average the points of each (method, `by` values, sparsity) group over its replicates."""
    groups: dict[tuple, list[Point]] = defaultdict(list)
    for point in points:
        groups[point.key].append(point)
    rows = []
    for key in sorted(groups, key=_order):
        members = groups[key]
        mean, std = {}, {}
        for name in FIGURES:
            values = [p.figures[name] for p in members if name in p.figures]
            if values:
                mean[name], std[name] = seed_stat(values)
        seeds = tuple(p.seed for p in members)
        rows.append(Row(key[0], key[1], key[2], seeds, mean, std))
    return rows


def csv_columns(by: Sequence[str]) -> list[str]:
    stats = [f"{name}_{stat}" for name in FIGURES for stat in ("mean", "std")]
    return ["method", *by, "target_sparsity", "runs", "seeds", "density", *stats]


def write_csv(rows: Sequence[Row], path: Path, by: Sequence[str] = ()) -> Path:
    """One line per group, figures as fractions at full precision; empty = not available."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(csv_columns(by))
    for row in rows:
        stats = [getattr(row, s).get(n) for n in FIGURES for s in ("mean", "std")]
        cells = [row.method, *(v for _, v in row.split), row.target, row.runs]
        cells += [" ".join(map(str, row.seeds)), row.density, *stats]
        writer.writerow(["" if c is None else c for c in cells])
    write_text(path, handle.getvalue())
    return Path(path)


def read_csv(path: Path) -> list[Row]:
    """The rows `write_csv` wrote (its `by` columns are those between `method` and
    `target_sparsity`), so a committed report.csv can be drawn again without its runs."""
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        by = columns[1 : columns.index("target_sparsity")]
        rows = []
        for cells in reader:
            stats = {s: {n: cells[f"{n}_{s}"] for n in FIGURES} for s in ("mean", "std")}
            mean = {n: float(v) for n, v in stats["mean"].items() if v != ""}
            std = {n: float(v) if v != "" else None for n, v in stats["std"].items() if n in mean}
            split = tuple((key, cells[key] or None) for key in by)
            seeds = tuple(cells["seeds"].split())
            target = float(cells["target_sparsity"])
            rows.append(Row(cells["method"], split, target, seeds, mean, std))
    return rows


def mean_pm(row: Row, name: str, scale: float = 100, digits: int = 2) -> str:
    """`row`'s mean ± std of `name` times `scale` (a row of the report or of its levels table:
    anything with `mean` and `std` mappings); empty when not measured."""
    mean, std = row.mean.get(name), row.std.get(name)
    if mean is None:
        return ""
    text = f"{mean * scale:.{digits}f}"
    return text if std is None else f"{text} ± {std * scale:.{digits}f}"


def _count(row: Row, name: str) -> str:
    value = row.mean.get(name)
    return "" if value is None else f"{value:,.0f}"


def display_table(rows: Sequence[Row], by: Sequence[str] = ()) -> tuple[list[str], list[list]]:
    """Header and cells as people read them: accuracy in percent, mean ± std over seeds."""
    header = ["method", *by, "target sparsity", "runs", "mean sparsity", "remaining weights"]
    header += ["test acc (%)", "test loss", "nonzero params", "nonzero MACs"]
    cells = []
    for row in rows:
        density = "" if row.density is None else f"{100 * row.density:.2f}%"
        line = [row.method, *(str(v) for _, v in row.split), f"{row.target:g}", str(row.runs)]
        sparsity = "" if "sparsity" not in row.mean else f"{row.mean['sparsity']:.4f}"
        line += [sparsity, density, mean_pm(row, "test/acc", 100, 2)]
        line += [mean_pm(row, "test/loss", 1, 4), _count(row, "params/nonzero")]
        cells.append([*line, _count(row, "macs/nonzero")])
    return header, cells


def write_markdown(rows: Sequence[Row], path: Path, by: Sequence[str] = ()) -> Path:
    """The display table as a GitHub Markdown table (mean ± sample std over seeds)."""
    header, cells = display_table(rows, by)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(line) + " |" for line in cells]
    write_text(path, "\n".join(lines) + "\n")
    return Path(path)


def print_rows(rows: Sequence[Row], by: Sequence[str] = (), console: Console | None = None):
    """Print the display table."""
    header, cells = display_table(rows, by)
    table = Table(title="test accuracy by method and sparsity (mean ± std over seeds)")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i <= len(by) else "right")
    for line in cells:
        table.add_row(*line)
    if console is None:  # not a terminal (a log file, a pipe): wide enough not to wrap cells
        console = Console()
        console = console if console.is_terminal else Console(width=200)
    console.print(table)
