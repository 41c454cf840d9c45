"""Reports over many runs: grouping, seed statistics, tables and the standard figure.

`prunelab-report PATH...` (or `python -m prunelab.reporting PATH...`) reads every run under the
paths (and, with `--wandb ENTITY/PROJECT/GROUP`, a W&B group's runs: `wandb_source`); the grouping
rules are in `prunelab.reporting.points` and `parts`, the per-level table in `levels`.
"""

from prunelab.reporting.cli import main, report
from prunelab.reporting.figure import accuracy_figure, draw_accuracy
from prunelab.reporting.levels import Level, level_rows
from prunelab.reporting.parts import differing
from prunelab.reporting.points import Point, align_stages, report_points, run_points
from prunelab.reporting.runs import ReportError, Run, RunSource, find_runs, load_run
from prunelab.reporting.summary import Row, read_csv, summarize, write_csv, write_markdown
from prunelab.reporting.wandb_source import WandbApi, WandbGroup

__all__ = [
    "Level",
    "Point",
    "ReportError",
    "Row",
    "Run",
    "RunSource",
    "WandbApi",
    "WandbGroup",
    "accuracy_figure",
    "align_stages",
    "differing",
    "draw_accuracy",
    "find_runs",
    "level_rows",
    "load_run",
    "main",
    "read_csv",
    "report",
    "report_points",
    "run_points",
    "summarize",
    "write_csv",
    "write_markdown",
]
