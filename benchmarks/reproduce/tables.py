"""What the claim analyses share: runs by seed, per-level statistics, cells as people read them.

`Runs` maps `<group>/<config>` (a run directory's parent, e.g. `claim1/imp_rewind`) to
`{seed: results.json as a dict}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reproduce.stats import stat

Runs = Mapping[str, Mapping[int, Mapping[str, Any]]]
MATCH_POINTS = 1.0  # "matches dense": mean test accuracy at most this many points below dense


def final(runs: Runs, config: str, key: str = "test/acc") -> dict[str, Any] | None:
    """Seed statistics of a final results.json figure of `config`'s runs."""
    return stat(r.get(key) for r in runs.get(config, {}).values())


def level_stats(runs: Runs, config: str, key: str) -> list[dict[str, Any] | None]:
    """Per level (stage index), the seed statistics of `key` in the runs' `stages` records."""
    per_level: dict[int, list[float]] = {}
    for results in runs.get(config, {}).values():
        for i, record in enumerate(results.get("stages") or []):
            per_level.setdefault(int(record.get("stage", i)), []).append(record.get(key))
    return [stat(per_level[level]) for level in sorted(per_level)]


def densities(runs: Runs, config: str) -> list[float | None]:
    """Mean density (1 - sparsity) per level of `config`'s runs."""
    found = level_stats(runs, config, "sparsity")
    return [None if s is None else 1.0 - s["mean"] for s in found]


def lowest_matching(
    density: Sequence[float | None], acc: Sequence[Mapping | None], dense: Mapping | None
) -> float | None:
    """The lowest density whose mean accuracy is within MATCH_POINTS of dense, or None."""
    if dense is None:
        return None
    floor = dense["mean"] - MATCH_POINTS / 100
    found = [d for d, a in zip(density, acc) if d is not None and a and a["mean"] >= floor]
    return min(found, default=None)


def interpolate(x: float, xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """y at density x, linear in log(density) between the two nearest measured points; None
    outside the measured range."""
    pairs = sorted(zip(xs, ys))
    for (x0, y0), (x1, y1) in zip(pairs, pairs[1:]):
        if x0 <= x <= x1:
            if x1 == x0:
                return y0
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return pairs[0][1] if len(pairs) == 1 and pairs[0][0] == x else None


def pct(s: Mapping[str, Any] | None, digits: int = 2) -> str:
    """A fraction's mean ± std as percent (`71.23 ± 0.40`); empty when not measured."""
    if s is None:
        return ""
    text = f"{100 * s['mean']:.{digits}f}"
    return text if s.get("std") is None else f"{text} ± {100 * s['std']:.{digits}f}"


def points(a: Mapping | None, b: Mapping | None) -> str:
    """The difference of two means in accuracy points, signed (`+0.42`)."""
    if a is None or b is None:
        return ""
    return f"{100 * (a['mean'] - b['mean']):+.2f}"


def share(value: float | None) -> str:
    """A density as percent of prunable weights."""
    return "" if value is None else f"{100 * value:.2f}%"


def table(caption: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> dict:
    return {"caption": caption, "columns": list(columns), "rows": [list(r) for r in rows]}
