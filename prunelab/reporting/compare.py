"""`prunelab-report --compare A B`: does group A beat group B, point by point and as a verdict.

At every pruned target sparsity both groups have (0 only when they share no other: IMP's level 0
is the dense training of a run and its controls alike), on `test/acc` over seeds by COMPARE_RULE,
with a verdict per pair (`verdict`); groups by the labels the report prints or a unique prefix."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from prunelab.atomic import write_text
from prunelab.reporting.runs import ReportError
from prunelab.reporting.summary import Row, mean_pm

METRIC = "test/acc"
LAST = ("a_runs", "b_runs", "outcome", "verdict")  # report_compare.csv's last columns
CLEAR, AHEAD, BEHIND = "clear", "ahead", "behind"
REPRODUCED, PARTLY, NOT = "reproduced", "partly", "not reproduced"
COMPARE_RULE = (
    "A beats B *clearly* when mean(A) - std(A) > mean(B) + std(B) (sample std over seeds; 0 with "
    "one seed), A is *ahead* when only mean(A) > mean(B), else A is *behind*."
)


def outcome(a_mean: float, a_std: float | None, b_mean: float, b_std: float | None) -> str:
    """`clear`, `ahead` or `behind` for A against B, by COMPARE_RULE (std None counts as 0)."""
    if a_mean - (a_std or 0.0) > b_mean + (b_std or 0.0):
        return CLEAR
    return AHEAD if a_mean > b_mean else BEHIND


def verdict(outcomes: Iterable[str]) -> str:
    """`reproduced` when every outcome is clear; `partly` when all are at least ahead or some are
    clear; `not reproduced` otherwise, and with no outcome at all."""
    outcomes = list(outcomes)
    if outcomes and all(o == CLEAR for o in outcomes):
        return REPRODUCED
    ahead = outcomes and all(o in (CLEAR, AHEAD) for o in outcomes)  # `and`: none is not ahead
    return PARTLY if ahead or CLEAR in outcomes else NOT


@dataclass(frozen=True)
class Comparison:
    """A against B at their shared target sparsities, each point's outcome, and the verdict."""

    a: str
    b: str
    points: list[tuple[Row, Row, str]]  # (A's row, B's row, outcome) by increasing sparsity

    @property
    def verdict(self) -> str:
        return verdict(o for _, _, o in self.points)

    @property
    def line(self) -> str:
        """`A vs B: verdict (k of n clear)`, n the shared target sparsities."""
        clear = sum(o == CLEAR for _, _, o in self.points)
        return f"{self.a} vs {self.b}: {self.verdict} ({clear} of {len(self.points)} clear)"


def resolve(name: str, labels: Sequence[str]) -> str:
    """The label `name` is or is the one prefix of; ReportError listing the labels otherwise."""
    found = [name] if name in labels else [label for label in labels if label.startswith(name)]
    if len(found) == 1:
        return found[0]
    which, listed = f"{len(found) or 'no'} groups", ", ".join(map(repr, labels))
    raise ReportError(f"--compare {name!r} matches {which}; the groups are {listed}")


def compare(rows: Sequence[Row], pairs: Sequence[tuple[str, str]]) -> list[Comparison]:
    """Each (A, B) pair of labels (or prefixes) compared at the targets both groups have;
    ReportError when a name matches no group or several, or A and B are one group."""
    rows = sorted((row for row in rows if METRIC in row.mean), key=lambda row: row.target)
    labels = list(dict.fromkeys(row.label for row in rows))
    found = []
    for first, second in pairs:
        a, b = resolve(first, labels), resolve(second, labels)
        if a == b:
            raise ReportError(f"--compare {first!r} {second!r}: both name the group {a!r}")
        theirs = {row.target: row for row in rows if row.label == b}
        shared = [row for row in rows if row.label == a and row.target in theirs]
        ours = [row for row in shared if row.target > 0] or shared  # see the module docstring
        points = [(r, theirs[r.target], outcome(*_stat(r), *_stat(theirs[r.target]))) for r in ours]
        found.append(Comparison(a, b, points))
    return found


def _stat(row: Row) -> tuple[float, float | None]:
    return row.mean[METRIC], row.std.get(METRIC)


def display_table(comparisons: Sequence[Comparison]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: accuracy in percent (mean ± std over seeds), one line per point."""
    header = ["A", "B", "target sparsity", "remaining", "A acc (%)", "B acc (%)", "A vs B"]
    return header, [
        [
            c.a,
            c.b,
            f"{a.target:g}",
            f"{100 - 100 * a.target:.2f}%",
            mean_pm(a, METRIC),
            mean_pm(b, METRIC),
            o,
        ]
        for c in comparisons
        for a, b, o in c.points
    ]


def print_comparisons(comparisons: Sequence[Comparison], console: Console | None = None) -> None:
    """Print the comparison table and the verdict lines."""
    header, cells = display_table(comparisons)
    table = Table(*header, title="A against B (test accuracy, mean ± std over seeds)")
    for line in cells:
        table.add_row(*line)
    console = console or Console(width=None if Console().is_terminal else 200)  # a pipe: no wrap
    console.print(table)
    for c in comparisons:
        console.print(c.line, highlight=False)


def write_compare_csv(comparisons: Sequence[Comparison], path: Path) -> Path:
    """One line per shared point (fractions, full precision; empty std: one seed), with verdict."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    stats = [f"{side}_{METRIC}_{s}" for side in "ab" for s in ("mean", "std")]
    writer.writerow(["a", "b", "target_sparsity", "density", *stats, *LAST])
    for c in comparisons:
        for a, b, result in c.points:
            cells = [c.a, c.b, a.target, 1 - a.target]
            cells += [*_stat(a), *_stat(b), a.runs, b.runs, result, c.verdict]
            writer.writerow(["" if cell is None else cell for cell in cells])
    write_text(path, handle.getvalue())
    return Path(path)


def append_markdown(comparisons: Sequence[Comparison], path: Path) -> Path:
    """Add the comparison table, the verdicts and the rule to the Markdown report at `path`."""
    header, cells = display_table(comparisons)
    lines = ["", "## Comparisons", "", *(f"| {' | '.join(line)} |" for line in [header] + cells)]
    lines.insert(4, "|" + "|".join(["---"] * len(header)) + "|")
    lines += ["", *(f"- {c.line}" for c in comparisons), "", COMPARE_RULE]
    before = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else ""
    write_text(path, before + "\n".join(lines) + "\n")
    return Path(path)
