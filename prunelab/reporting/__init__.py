"""Reports over many runs: grouping, seed statistics, tables and the standard figure.

`prunelab-report PATH...` (or `python -m prunelab.reporting PATH...`) reads every run under the
paths; the grouping rules are in `prunelab.reporting.points`.
"""

from prunelab.reporting.cli import main, report
from prunelab.reporting.figure import accuracy_figure, draw_accuracy
from prunelab.reporting.points import Point, align_stages, report_points, run_points
from prunelab.reporting.runs import ReportError, Run, find_runs, load_run
from prunelab.reporting.summary import Row, read_csv, summarize, write_csv, write_markdown

__all__ = [
    "Point",
    "ReportError",
    "Row",
    "Run",
    "accuracy_figure",
    "align_stages",
    "draw_accuracy",
    "find_runs",
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
