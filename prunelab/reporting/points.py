"""The grouping rules: which (method, sparsity) points a run contributes to a report.

- **method** is the run's `pruning.name` (`none` for dense runs); extra config keys given with
  `by` (e.g. `pruning.allocation`, `model.depth`) split methods further; `model` and `data`
  split by the model's and dataset's names (the report adds them itself when runs differ there).
- **single-stage runs** give one point at their *target* sparsity: the config's
  `pruning.sparsity`, else 1 - `pruning.density` (SNIP, PreCropping), 0 for dense runs, else the
  measured sparsity rounded to 3 decimals. The point carries the run's final `test/acc`,
  `test/loss` and measured `sparsity`, `params/nonzero`, `macs/nonzero`.
- **structured runs** (PreCropping: results.json has `precrop/params_kept`) have no zeros: their
  `sparsity` is the share of the full network's prunable weights that was cut away, so they sit
  beside unstructured runs with as many weights.
- **multi-stage runs** (IMP, SAP: results.json has `stages`, each with `sparsity` and
  `test/acc`) give one point per stage; the stages with one index are replicates, whose target is
  their mean measured sparsity rounded to 4 decimals (IMP levels hit the same counts for every
  seed; SAP's adaptive levels differ a little between seeds). The run's final figures are not
  added again, since they are its last stage.
- points of one method at one sparsity are the replicates that a report averages; `seed` tells
  them apart.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prunelab.reporting.runs import Run

# Figures a point may carry, from results.json or from one of its stages.
FIGURES = ("test/acc", "test/loss", "sparsity", "params/nonzero", "macs/nonzero")
TARGET_DECIMALS = 3  # single-stage runs without a configured target: measured sparsity, rounded
STAGE_DECIMALS = 4  # multi-stage runs: each stage's mean measured sparsity, rounded
STRUCTURED_KEPT = "precrop/params_kept"  # structured runs: fraction of prunable weights kept


@dataclass(frozen=True)
class Point:
    """One run's (or one stage's) figures at one (method, sparsity) group."""

    method: str
    target: float  # the group's sparsity: configured target, or rounded measured stage sparsity
    seed: Any
    figures: dict[str, float] = field(default_factory=dict)
    split: tuple[tuple[str, Any], ...] = ()  # the `by` keys and this run's values
    source: str = ""  # run directory (and stage), for messages
    stage: int | None = None  # index of the stage in a multi-stage run

    @property
    def key(self) -> tuple:
        """What points share to be averaged together."""
        return (self.method, self.split, self.target)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _figures(source: Mapping[str, Any]) -> dict[str, float]:
    found = {k: _number(source.get(k)) for k in FIGURES}
    kept = _number(source.get(STRUCTURED_KEPT))
    if kept is not None:
        found["sparsity"] = 1.0 - kept
    return {k: v for k, v in found.items() if v is not None}


def _stages(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    stages = results.get("stages") or []
    complete = all(
        isinstance(s, Mapping) and _number(s.get("sparsity")) is not None and "test/acc" in s
        for s in stages
    )
    return list(stages) if complete else []


def _target(run: Run) -> float:
    configured = _number(run.get("pruning.sparsity"))
    if configured is not None:
        return configured
    density = _number(run.get("pruning.density"))
    if density is not None:
        return round(1.0 - density, TARGET_DECIMALS)
    if run.get("pruning.name") == "none":
        return 0.0
    return round(float(run.results.get("sparsity") or 0.0), TARGET_DECIMALS)


def run_points(run: Run, by: Sequence[str] = ()) -> list[Point]:
    """The points `run` contributes, by the rules of this module's docstring."""
    method = str(run.get("pruning.name", "unknown"))
    split = tuple((key, run.value(key)) for key in by)
    seed = run.get("seed")
    stages = _stages(run.results)
    if not stages:
        figures = _figures(run.results)
        return [Point(method, _target(run), seed, figures, split, str(run.path))]
    return [
        Point(
            method,
            round(float(stage["sparsity"]), STAGE_DECIMALS),
            seed,
            _figures(stage),
            split,
            f"{run.path} stage {stage.get('stage', i)}",
            stage=i,
        )
        for i, stage in enumerate(stages)
    ]


def align_stages(points: Iterable[Point]) -> list[Point]:
    """Give the stages with one index (per method and `by` values) one target: their mean
    sparsity, so the replicates of an adaptive schedule are averaged together."""
    points = list(points)
    stages: dict[tuple, list[float]] = defaultdict(list)
    for point in points:
        if point.stage is not None:
            stages[(point.method, point.split, point.stage)].append(point.target)
    return [
        point
        if point.stage is None
        else replace(
            point,
            target=round(
                statistics.fmean(stages[(point.method, point.split, point.stage)]), STAGE_DECIMALS
            ),
        )
        for point in points
    ]


def report_points(runs: Iterable[Run], by: Sequence[str] = ()) -> list[Point]:
    """Every point the runs contribute, stages aligned across replicates."""
    return align_stages(point for run in runs for point in run_points(run, by))
