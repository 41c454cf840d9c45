"""Which parts of a method the runs differ in, so a report splits and labels them by those parts.

A method is a rule, a schedule and an after-pruning action (`pruning.rule`, `pruning.schedule`,
`pruning.after`, each with a `kind` and options; docs/composition.md), and a structural stage
(`structure`, by `name`). `prunelab -m pruning=gmp pruning/rule=magnitude,random` gives runs with
one `pruning.name` that differ in `pruning.rule.kind`; the report finds that key from the runs'
configs, so each point is labelled `gmp (rule=magnitude)` without `--by`.

The rules:
- the candidate keys are every option of those parts, kinds and structure name first, except the
  pruning's target (`pruning.*.sparsity`, `.density`: the report's x axis already; the
  structure's `density`, its narrowing, does split), the draws' `seed` (a replicate axis, as the
  run's `seed`) and `_target_` (follows from the kind);
- a key splits when runs that the split so far (method and the keys given) puts in one group
  hold two or more distinct values of it; a value a run does not have (a part another kind lacks,
  a run from before parts existed) never splits, nor does a list (it names no group). So a key
  that only repeats a split already made (`pruning.rule.allocation` beside `--by
  pruning.allocation`) is not added twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prunelab.reporting.runs import Run

PARTS = ("pruning.rule", "pruning.schedule", "pruning.after", "structure")
NAMES = {"pruning.rule": "kind", "pruning.schedule": "kind", "pruning.after": "kind"}
NAMES["structure"] = "name"  # the key that says which kind of part a run has
SKIPPED = {"seed", "_target_"}  # a replicate axis; what the kind already says
TARGET = {"sparsity", "density"}  # the pruning's target: the report's x axis already


def short(key: str) -> str:
    """How a label names `key`: `rule` for `pruning.rule.kind`, `rule.allocation` for
    `pruning.rule.allocation`, `structure` for `structure.name`; other keys as they are."""
    for part, name in NAMES.items():
        if key.startswith(f"{part}."):
            word, rest = part.rsplit(".", 1)[-1], key[len(part) + 1 :]
            return word if rest == name else f"{word}.{rest}"
    return key


def _leaves(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}")
    else:
        yield prefix


def candidates(runs: Sequence[Run]) -> list[str]:
    """Every part key some run has: each part's kind (or name) first, then its options."""
    kinds = [f"{part}.{name}" for part, name in NAMES.items()]
    options = []
    for run in runs:
        for part in PARTS:
            options += [k for k in _leaves(run.get(part), part) if k != part]
    options = [k for k in options if not _skipped(k)]
    return list(dict.fromkeys([*kinds, *options]))


def _skipped(key: str) -> bool:
    name = key.rsplit(".", 1)[-1]
    return name in SKIPPED or (key.startswith("pruning.") and name in TARGET)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def differing(runs: Sequence[Run], by: Sequence[str] = ()) -> list[str]:
    """The part keys that split the runs further than method and `by` do (the module's rules),
    in the order `candidates` gives."""
    split = list(by)
    for key in candidates(runs):
        if key in split:
            continue
        values = [run.value(key) for run in runs]
        if not all(map(_scalar, values)):  # a list (layer globs, ...): not a label
            continue
        groups: dict[tuple, set] = defaultdict(set)
        for run, value in zip(runs, values):
            if value is not None:
                group = (str(run.get("pruning.name")), *(repr(run.value(k)) for k in split))
                groups[group].add(value)
        if any(len(found) > 1 for found in groups.values()):
            split.append(key)
    return split[len(by) :]
