"""Seed statistics and the one comparison rule every verdict is built from."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prunelab.reporting.compare import (  # the rule is the product's (prunelab-report --compare)
    AHEAD,
    BEHIND,
    CLEAR,
    COMPARE_RULE,
    NOT,
    PARTLY,
    REPRODUCED,
    outcome,
    verdict,
)
from prunelab.reporting.summary import seed_stat  # the report's mean and std over seeds

__all__ = ["AHEAD", "BEHIND", "CLEAR", "COMPARE_RULE", "NOT", "PARTLY", "REPRODUCED", "Stat"]
__all__ += ["combine", "compare", "pairwise_verdict", "read_results", "stat"]


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation over seeds (std None for a single value)."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat | None:
        values = [float(v) for v in values if v is not None]
        if not values:
            return None
        return cls(*seed_stat(values), len(values))

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


def stat(values: Iterable[float]) -> dict[str, Any] | None:
    """`Stat.of(values)` as a plain dict (what summaries store), None without values."""
    found = Stat.of(values)
    return None if found is None else found.as_dict()


def compare(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> str | None:
    """`clear`, `ahead` or `behind` for A against B (stat dicts), by COMPARE_RULE."""
    if a is None or b is None:
        return None
    return outcome(a["mean"], a["std"], b["mean"], b["std"])


def pairwise_verdict(outcomes: Iterable[str | None]) -> str:
    """Reproduced when A beats B clearly at every point; partly when A is at least ahead at every
    point or clearly ahead at some; not reproduced otherwise (or with nothing measured)."""
    outcomes = list(outcomes)
    return NOT if None in outcomes else verdict(outcomes)


def combine(*verdicts: str) -> str:
    """Reproduced if every part is, not reproduced if none is even partly, partly otherwise."""
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT if all(v == NOT for v in verdicts) else PARTLY


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """A run's results.json, or None when the run has not finished."""
    path = Path(run_dir) / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None
