"""`prunelab-report PATH... [--wandb ENTITY/PROJECT/GROUP]`: the table and the figure of every
run under the paths and in the W&B groups."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from prunelab.reporting.compare import (
    append_markdown,
    compare,
    print_comparisons,
    write_compare_csv,
)
from prunelab.reporting.figure import accuracy_figure
from prunelab.reporting.levels import level_rows, write_levels_csv, write_levels_markdown
from prunelab.reporting.parts import differing
from prunelab.reporting.points import report_points
from prunelab.reporting.runs import SETTINGS, ReportError, Run, RunSource, find_runs, started
from prunelab.reporting.summary import Row, print_rows, summarize, write_csv, write_markdown
from prunelab.reporting.wandb_source import WandbApi, WandbGroup

PROG = "prunelab-report"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Group runs by method and target sparsity (and by model, dataset and the "
        "parts of a method where the runs differ in them), average over seeds "
        "(mean ± sample std), print the table, and write it as CSV and Markdown with the "
        "figure of test accuracy against remaining weights.",
        epilog="Multi-stage runs (IMP, SAP) contribute one point per stage, and a table per "
        "level. Files: report.csv, report.md, report.png (and report_levels.csv/.md) in --out.",
    )
    p.add_argument("paths", nargs="*", type=Path, help="run directories or folders above them")
    p.add_argument(
        "--wandb",
        action="append",
        default=[],
        metavar="ENTITY/PROJECT/GROUP",
        help="also the finished runs of this W&B group (online; repeatable)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="folder for report.csv/.md/.png (default: the first PATH, else the current folder)",
    )
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="KEY",
        help="also split groups by this config key, e.g. pruning.allocation (repeatable); "
        "the parts runs differ in (pruning.rule.kind, structure.name, ...) split them anyway",
    )
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        nargs=2,
        metavar=("A", "B"),
        help="does group A beat group B at their shared sparsities (clear/ahead/behind, and a "
        "verdict); groups by their printed label or a prefix of one (repeatable); writes "
        "report_compare.csv and adds to report.md",
    )
    return p


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _check_replicates(rows: Sequence[Row]) -> None:
    for row in rows:
        repeated = sorted(str(s) for s, n in Counter(row.seeds).items() if n > 1)
        if repeated:
            _warn(
                f"{row.label} at sparsity {row.target:g} has seed(s) {', '.join(repeated)} "
                "more than once: the same run twice, or runs that differ in a key the report "
                "does not group by (split them with --by KEY)"
            )


def _skipped(folders: Sequence[Path]) -> None:
    begun = [f for f in folders if started(f)]
    never = [f for f in folders if not started(f)]
    if begun:
        _warn(f"skipped {len(begun)} unfinished run(s) without results.json, e.g. {begun[0]}")
    if never:
        _warn(
            f"skipped {len(never)} unfinished run folder(s) where no run started (only Hydra's "
            f"config: a refused config, or stopped before training), e.g. {never[0]}"
        )


def _mixed_settings(runs: Sequence[Run], by: Sequence[str]) -> list[str]:
    """`model` and/or `data` when the runs differ in them (and `by` does not split them yet):
    averaging runs of two models into one row would be wrong, so they become groups of their own."""
    mixed = []
    for key in SETTINGS:
        names = sorted({str(run.value(key)) for run in runs})
        if key not in by and len(names) > 1:
            kind = {"model": "models", "data": "datasets"}[key]
            _warn(f"runs of {len(names)} {kind} ({', '.join(names)}): grouped by {key} as well")
            mixed.append(key)
    return mixed


def figure_title(runs: Sequence[Run], by: Sequence[str]) -> str:
    """The figure's title, naming the model and dataset when all runs share them."""
    shared = [None if key in by else runs[0].value(key) for key in SETTINGS] if runs else []
    where = " / ".join(str(name) for name in shared if name)
    on = f" on {where}" if where else ""
    return f"test accuracy against remaining weights{on} (mean ± std over seeds)"


# What a report writes only for some runs (levels) or options (--compare): removed from `--out`
# when this report does not write it, so the folder never mixes two reports.
OPTIONAL = ("report_levels.csv", "report_levels.md", "report_compare.csv")


def read_runs(paths: Sequence[Path], sources: Sequence[RunSource] = ()) -> list[Run]:
    """The finished runs under `paths` and of `sources`, with a warning for those left out."""
    runs, unfinished = find_runs(paths) if paths else ([], [])
    _skipped(unfinished)
    for source in sources:
        runs += source.runs()
        if source.unfinished:
            left = source.unfinished
            _warn(f"skipped {len(left)} unfinished run(s) of {source.name}, e.g. {left[0]}")
    if not runs:
        raise ReportError("no runs: give run directories or --wandb ENTITY/PROJECT/GROUP")
    return runs


def report(
    paths: Sequence[Path],
    out: Path,
    by: Sequence[str] = (),
    sources: Sequence[RunSource] = (),
    pairs: Sequence[tuple[str, str]] = (),
) -> list[Row]:
    """Read the runs, print the table and write report.csv, report.md and report.png to `out`
    (and report_levels.csv/.md where runs have levels, `prunelab.reporting.levels`; with `pairs`,
    report_compare.csv and a section of report.md, `prunelab.reporting.compare`).

    Runs split by method, target sparsity, the `by` keys and the parts they differ in
    (`prunelab.reporting.parts`).

    Raises:
        ReportError: a path is missing or holds no finished run, a source cannot be read, or a
            `by` key is in no run, or a name in `pairs` matches no group or several.
    """
    runs = read_runs(paths, sources)
    for key in by:  # a misspelt key would silently put every run in one group
        if all(run.value(key) is None for run in runs):
            raise ReportError(f"--by {key}: no run's config has this key")
    by = [*_mixed_settings(runs, by), *by]
    by += differing(runs, by)
    points = report_points(runs, by)
    rows, levels = summarize(points), level_rows(points)
    _check_replicates(rows)
    comparisons = compare(rows, pairs)  # refuses a bad name before anything is written
    out.mkdir(parents=True, exist_ok=True)
    print_rows(rows, by)
    written = [
        write_csv(rows, out / "report.csv", by),
        write_markdown(rows, out / "report.md", by),
        accuracy_figure(rows, out / "report.png", figure_title(runs, by)),
    ]
    if levels:  # level methods (IMP, SAP): their table by level index as well
        written += [
            write_levels_csv(levels, out / "report_levels.csv", by),
            write_levels_markdown(levels, out / "report_levels.md", by),
        ]
    if comparisons:
        print_comparisons(comparisons)
        written.append(write_compare_csv(comparisons, out / "report_compare.csv"))
        append_markdown(comparisons, out / "report.md")
    for name in OPTIONAL:  # an earlier report's tables that this one has no part of
        if out / name not in written:
            (out / name).unlink(missing_ok=True)
    print(f"{len(runs)} runs, {len(rows)} groups -> " + ", ".join(map(str, written)))
    return rows


def main(argv: Sequence[str] | None = None, api: WandbApi | None = None) -> int:
    """Entry point of `prunelab-report` and `python -m prunelab.reporting`; `api` reads the
    `--wandb` groups (default: `wandb.Api()`, when W&B is online)."""
    args = parser().parse_args(argv)
    first = args.paths[0] if args.paths else None
    out = args.out or (first if first is not None and first.is_dir() else Path.cwd())
    try:
        sources = [WandbGroup(group, api) for group in args.wandb]
        report(args.paths, out, args.by, sources, [tuple(pair) for pair in args.compare])
    except ReportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return 0
