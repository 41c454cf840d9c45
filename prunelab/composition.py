"""A pruning method from its parts: rule x schedule x after-pruning action (docs/composition.md).

`conf/pruning/<name>.yaml` presets name their parts (`pruning/rule=`, `pruning/schedule=`,
`pruning/after=`), whose options default to the preset's flat keys (`pruning.sparsity`, ...), so
`pruning=gmp pruning/rule=random` or `pruning=imp pruning/rule=pq_index` need no new Python.
`build` turns the resolved parts into a callback:
- a combination a named method binds is built as that method (its `_target_` when it is that
  class or a subclass), with the part options as its arguments: `GlobalMagnitudePruning`
  (magnitude, one_shot | cubic, finetune), `GraNet` (magnitude, cubic, regrow), `RandomPruning`
  (random, one_shot at 0, finetune), `SNIPPruning` (snip, one_shot at 0, finetune),
  `IterativeMagnitudePruning` (magnitude, levels, rewind | finetune), `PQIndexPruning`
  (pq_index, levels, rewind | finetune);
- any other combination runs on the same two adapters the named methods are made of:
  `PruningMethod` (one_shot, cubic) or `LevelPruning` (levels), e.g. the PQ-index rule on a
  step schedule (`PQAllocationRule`: the schedule's amount split by SAP's counts) or regrowth
  after each level's pruning (`LevelPruning(..., regrow=)`);
- a combination without meaning (`CONFLICTS`) is refused in one line naming both parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import get_class

from prunelab import composition_parts as parts
from prunelab.errors import ConfigError

PARTS = ("rule", "schedule", "after")
# The instability analysis of each level's subnetwork (`LevelStability`): level methods only.
STABILITY = ("stability", "stability_levels", "stability_seeds", "stability_bn")
# Options every method takes besides its parts (MaskedTraining's, and the level methods' own).
COMMON = (
    "exclude", "collapse_threshold", "plot", "plot_dir", "prog_bar", "monitor", "masks_from",
    *STABILITY,
)  # fmt: skip
# What only a level method (and GraNet's monitor) reads.
LEVEL_ONLY = ("monitor", "masks_from", *STABILITY)

# (part, kind) x (other part, its kinds) that cannot go together, and why.
CONFLICTS = (
    ("rule", "snip", "schedule", ("cubic", "levels"),
     "SNIP scores once at initialization (schedule=one_shot)"),
    ("rule", "snip", "after", ("rewind", "regrow"), "SNIP prunes once at initialization"),
    ("after", "rewind", "schedule", ("one_shot", "cubic"),
     "rewinding happens between the trainings of schedule=levels"),
    ("after", "regrow", "schedule", ("one_shot",),
     "regrowth acts at every update of schedule=cubic or after each level of schedule=levels"),
)  # fmt: skip


def kinds_of(node: Mapping[str, Any]) -> dict[str, str] | None:
    """The part kinds of a pruning node (`{"rule": "magnitude", ...}`), None if it names none."""
    found = {p: node[p].get("kind") for p in PARTS if isinstance(node.get(p), Mapping)}
    if not found:
        return None
    missing = [p for p in PARTS if p not in found]
    if missing:
        raise ConfigError(f"pruning names parts {', '.join(found)} but not {', '.join(missing)}")
    return found


def check_combination(kinds: Mapping[str, str]) -> None:
    """Refuse an unknown kind or a pair of parts that do not combine (one line, both named)."""
    for part, kind in kinds.items():
        if kind not in parts.KINDS[part]:
            valid = ", ".join(parts.KINDS[part])
            raise ConfigError(f"pruning.{part}.kind={kind!r} is not one of {valid}")
    for part, kind, other, others, why in CONFLICTS:
        if kinds[part] == kind and kinds[other] in others:
            raise ConfigError(
                f"pruning/{part}={kind} does not combine with pruning/{other}={kinds[other]}: {why}"
            )


def _magnitude(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The magnitude rule's options as a named method's arguments (`pattern` only when set)."""
    out = {k: rule[k] for k in ("allocation", "min_threshold") if k in rule}
    return out | ({"pattern": rule["pattern"]} if rule.get("pattern") is not None else {})


def _plain_magnitude(rule: Mapping[str, Any]) -> bool:
    """A magnitude rule that IMP's and GraNet's arguments can say: no minimum threshold, no N:M,
    global or layerwise allocation."""
    return (
        rule.get("min_threshold", 0.0) == 0
        and rule.get("pattern") is None
        and rule.get("allocation", "global") in ("global", "layerwise")
    )


def _level_args(schedule: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """IMP's and SAP's shared arguments: the levels plan and the rewind (or fine-tuning)."""
    plan = parts.options("schedule", schedule, ("levels", "epochs_per_level", "fraction"))
    rewind = parts.rewind(after)
    args = {k: plan[k] for k in ("levels", "epochs_per_level") if k in plan}
    return args | {"rewind": rewind.spec(), "control": rewind.control, "seed": after.get("seed")}


def _window(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """The cubic schedule's window and target as GlobalMagnitudePruning's and GraNet's arguments."""
    parts.options("schedule", schedule, parts.CUBIC)
    args = {k: schedule[k] for k in ("start_epoch", "end_epoch", "frequency") if k in schedule}
    return args | {"sparsity": parts.final_sparsity(schedule)}


def _one_shot(schedule: Mapping[str, Any]) -> tuple[float, int]:
    """The one-shot schedule's (sparsity, prune_at)."""
    opts = parts.options("schedule", schedule, ("sparsity", "density", "prune_at"))
    return parts.final_sparsity(schedule), opts.get("prune_at", 0)


def _step_named(kinds: tuple[str, ...], rule, schedule, after) -> tuple[str, dict] | None:
    """The named method of a step schedule (`one_shot`, `cubic`), or None."""
    if kinds == ("magnitude", "one_shot", "finetune"):
        sparsity, prune_at = _one_shot(schedule)
        args = {"sparsity": sparsity, "schedule": "oneshot", "prune_at": prune_at}
        return "prunelab.callbacks.GlobalMagnitudePruning", args | _magnitude(rule)
    if kinds == ("magnitude", "cubic", "finetune") and schedule.get("initial_masks") is None:
        args = _window(schedule) | {"initial_sparsity": parts.initial_sparsity(schedule)}
        args["schedule"] = "gradual"
        return "prunelab.callbacks.GlobalMagnitudePruning", args | _magnitude(rule)
    if kinds == ("magnitude", "cubic", "regrow") and _plain_magnitude(rule):
        initial, masks = parts.initial_sparsity(schedule), schedule.get("initial_masks")
        if initial and not masks:  # GraNet starts from random masks at s_i > 0
            return None
        parts.regrow(after)  # refuses `to` off levels
        args = _window(schedule) | {"initial_density": 1.0 - initial}
        args |= {"distribution": masks or "erk", "seed": schedule.get("seed")}
        args |= {"regrow_fraction": after.get("fraction", 0.5)}
        args |= {"regrow_fraction_min": after.get("fraction_min", 0.005)}
        return "prunelab.callbacks.GraNet", args | {"allocation": rule.get("allocation", "global")}
    if kinds == ("snip", "one_shot", "finetune"):
        sparsity, prune_at = _one_shot(schedule)
        if prune_at != 0:
            raise ConfigError("pruning/rule=snip scores at initialization: pruning.prune_at=0")
        args = {"density": 1.0 - sparsity} | parts.options("rule", rule, ("batches",))
        return "prunelab.callbacks.SNIPPruning", args
    if kinds == ("random", "one_shot", "finetune") and _one_shot(schedule)[1] == 0:
        args = parts.options("rule", rule, ("allocation", "seed"))
        return "prunelab.callbacks.RandomPruning", args | {"sparsity": _one_shot(schedule)[0]}
    return None


def named(kinds: Mapping[str, str], node: Mapping[str, Any]) -> tuple[str, dict] | None:
    """The named method (class path, arguments) that binds exactly these parts, or None."""
    rule, schedule, after = (node[p] for p in PARTS)
    if rule.get("structure", "weight") != "weight":  # whole channels: PruningMethod binds them
        steps = kinds["schedule"] != "levels" and kinds["after"] == "finetune"
        if kinds["rule"] != "magnitude" or not steps:
            raise ConfigError(
                f"pruning.structure={rule['structure']} is an option of the magnitude rule on "
                "one_shot or cubic with after=finetune (pruning=gmp, global_magnitude)"
            )
        return None
    if kinds["schedule"] != "levels":
        return _step_named(tuple(kinds[p] for p in PARTS), rule, schedule, after)
    if kinds["after"] == "regrow":  # no named method regrows on levels
        return None
    if kinds["rule"] == "magnitude" and _plain_magnitude(rule):
        args = _level_args(schedule, after) | {"fraction": schedule.get("fraction", 0.2)}
        args["allocation"] = rule.get("allocation", "global")
        return "prunelab.callbacks.IterativeMagnitudePruning", args
    if kinds["rule"] == "pq_index":
        args = parts.pq_options(rule, step=False)
        return "prunelab.callbacks.PQIndexPruning", args | _level_args(schedule, after)
    return None


def composed(kinds: Mapping[str, str], node: Mapping[str, Any], common: dict[str, Any]):
    """A combination no named method binds, on `PruningMethod` or `LevelPruning`."""
    from prunelab.callbacks import LevelPruning, PruningMethod
    from prunelab.callbacks.pq_index import PQIndexProbe

    rule, schedule, after = (node[p] for p in PARTS)
    if kinds["schedule"] == "levels":
        plan, fraction = parts.levels(schedule)
        if kinds["rule"] == "pq_index":
            level_rule = parts.pq_rule(rule)
            probe = PQIndexProbe(level_rule.p, level_rule.q, level_rule.scope)
        else:
            level_rule, probe = parts.SparsityLevels(parts.step_rule(rule), fraction), None
        common.setdefault("monitor", "val/acc")
        regrows = kinds["after"] == "regrow"
        rewind, regrow = parts.level_regrow(after) if regrows else (parts.rewind(after), None)
        return LevelPruning(level_rule, plan, rewind, probe=probe, regrow=regrow, **common)
    for key in ("masks_from", *STABILITY):
        common.pop(key, None)
    regrows = kinds["after"] == "regrow"
    if kinds["schedule"] == "one_shot":
        timing, start = parts.one_shot(schedule), None
    else:
        timing, start = parts.cubic(schedule, through_end=regrows)
    if kinds["after"] == "finetune":
        parts.options("after", after, ())
    action = parts.regrow(after) if regrows else None
    return PruningMethod(parts.step_rule(rule), timing, action, start_rule=start, **common)


NAMED = (
    "prunelab.callbacks.GlobalMagnitudePruning", "prunelab.callbacks.GraNet",
    "prunelab.callbacks.IterativeMagnitudePruning", "prunelab.callbacks.PQIndexPruning",
    "prunelab.callbacks.RandomPruning", "prunelab.callbacks.SNIPPruning",
)  # fmt: skip


LEVEL_NAMED = ("prunelab.callbacks.IterativeMagnitudePruning", "prunelab.callbacks.PQIndexPruning")


def _same_family(target: str, path: str) -> bool:
    """Two named methods on the same kind of schedule (levels, or steps): a preset's `_target_`
    and the method its parts make once a rule or an action was swapped on the command line."""
    return target in NAMED and (target in LEVEL_NAMED) == (path in LEVEL_NAMED)


def _own_target(node: Mapping[str, Any]) -> type | None:
    """A `_target_` that is none of the named methods nor a subclass of one (a user's own
    callback): it is given the flat keys, as before parts existed. None otherwise."""
    target = node.get("_target_")
    if target is None or target in NAMED:
        return None
    custom = get_class(target)
    return None if any(issubclass(custom, get_class(p)) for p in NAMED) else custom


def build(node: dict[str, Any]) -> Any:
    """The callback of a resolved pruning node that names its parts (`name` already removed):
    the named method those parts make, else their composition on the shared adapters."""
    own = _own_target(node)
    if own is not None:
        return own(**{k: v for k, v in node.items() if k not in (*PARTS, "_target_")})
    kinds = kinds_of(node)
    check_combination(kinds)
    common = {k: node[k] for k in COMMON if k in node}
    if common.get("stability") and kinds["schedule"] != "levels":
        raise ConfigError(
            "pruning.stability analyses each level's subnetwork: it needs pruning/schedule=levels"
        )
    if common.get("masks_from") is not None and kinds["schedule"] != "levels":
        raise ConfigError(
            "pruning.masks_from replays an earlier run's levels: it needs pruning/schedule=levels"
        )
    if common.get("masks_from") is not None and kinds["after"] == "regrow":
        raise ConfigError(
            "pruning.masks_from replays an earlier run's masks of each level; "
            "pruning/after=regrow would change them"
        )
    if node["rule"].get("pattern") is not None and kinds["schedule"] != "one_shot":
        raise ConfigError(
            f"pruning.pattern={node['rule']['pattern']} needs pruning/schedule=one_shot: N of "
            "every M cannot hold at the intermediate sparsities of cubic or levels"
        )
    found = named(kinds, node)
    if found is None:
        return composed(kinds, node, common)
    path, args = found
    cls, target = get_class(path), node.get("_target_")
    # a user's subclass of a named method as the target; a preset's named `_target_` yields to
    # parts that swap its rule (`pruning=imp pruning/rule=pq_index` is SAP on IMP's levels)
    if target is not None and target != path and not _same_family(target, path):
        custom = get_class(target)
        if not issubclass(custom, cls):
            raise ConfigError(
                f"pruning._target_={target} is not a {cls.__name__}, which these parts make"
            )
        cls = custom
    if kinds["schedule"] != "levels":
        common = {k: v for k, v in common.items() if k not in LEVEL_ONLY}
    return cls(**args, **common)
