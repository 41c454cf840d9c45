"""The parts of a pruning method as config nodes, turned into the core pieces they name.

A method config (`conf/pruning/<name>.yaml`) names three parts, each a node with a `kind` and its
own options (`conf/pruning/rule|schedule|after/<kind>.yaml`):
- rule: which weights a pruning step keeps: `magnitude`, `random`, `snip` (scores + allocation;
  `allocation: erk` is the ERK allocation) or `pq_index` (SAP: on levels the PQ index decides
  how many; on a step schedule it splits the schedule's amount between layers or neurons);
- schedule: when it prunes and to what sparsity: `one_shot`, `cubic` or `levels`;
- after: what follows each pruning step: `finetune` (train on with the masks), `rewind`
  (weights to init / step K, or the learning rate: `lr`, `lr:K`; between levels) or `regrow`
  (GraNet's drop-and-regrow at every update of the cubic schedule, or after each level's
  pruning, before the rewind its `to` names).
Each function here reads one part node and returns the piece (`prunelab.pruning.rules`,
`schedules`, `actions`); a bad value raises ValueError naming `pruning.<part>.<key>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prunelab.pruning.actions import LevelRewind, Regrow
from prunelab.pruning.channel_rule import magnitude_rule
from prunelab.pruning.pq_allocation import PQAllocationRule
from prunelab.pruning.rules import LevelRule, PQIndexRule, RandomRule, Rule
from prunelab.pruning.schedule import imp_density
from prunelab.pruning.schedules import Cubic, Levels, OneShot

KINDS = {
    "rule": ("magnitude", "random", "snip", "pq_index"),
    "schedule": ("one_shot", "cubic", "levels"),
    "after": ("finetune", "rewind", "regrow"),
}
INITIAL_MASKS = ("erk", "uniform")  # the random sparse masks a sparse-to-sparse run starts from


def options(part: str, node: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    """The node's options without `kind`; an option this kind does not have is refused."""
    extra = sorted(set(node) - {"kind", *known})
    if extra:
        raise ValueError(
            f"pruning.{part}.{extra[0]} is not an option of pruning/{part}={node['kind']} "
            f"(it has {', '.join(known) or 'none'})"
        )
    return {k: v for k, v in node.items() if k != "kind"}


@dataclass(frozen=True)
class SparsityLevels(LevelRule):
    """A sparsity rule on IMP's levels: level L prunes to 1 - (1 - f)^L by `rule` (with the
    magnitude rule this is IMP's `FractionRule`, bit for bit)."""

    rule: Rule
    fraction: float

    def __post_init__(self) -> None:
        if isinstance(self.fraction, bool) or not 0 < self.fraction < 1:
            raise ValueError(f"pruning.schedule.fraction={self.fraction} must be in (0, 1)")

    def masks(self, params, masks, level: int):
        return self.rule.masks(params, masks, 1.0 - imp_density(level, self.fraction))


def step_rule(node: Mapping[str, Any]) -> Rule:
    """The rule of a step schedule (`one_shot`, `cubic`), or of a level under `SparsityLevels`."""
    kind = node["kind"]
    if kind == "magnitude":
        opts = options("rule", node, ("allocation", "min_threshold", "pattern", "structure"))
        return magnitude_rule(opts.pop("structure", None) or "weight", opts)
    if kind == "random":
        return RandomRule(**options("rule", node, ("allocation", "seed")))
    if kind == "pq_index":  # the schedule's amount, split between units by SAP's counts
        return PQAllocationRule(**pq_options(node, step=True))
    raise ValueError(f"pruning/rule={kind} has no step form")  # snip: see composition


PQ = ("p", "q", "eta", "gamma", "beta", "scope")  # the options of pruning/rule=pq_index


def pq_options(node: Mapping[str, Any], step: bool) -> dict[str, Any]:
    """The PQ-index rule's options; an unset `scope` is SAP's `global` on levels and `layer` on
    a step schedule (one global unit would leave nothing for the PQ index to split)."""
    opts = options("rule", node, PQ)
    if opts.get("scope") is None:
        opts["scope"] = "layer" if step else "global"
    return opts


def pq_rule(node: Mapping[str, Any]) -> PQIndexRule:
    """SAP's level rule from `pruning/rule=pq_index`."""
    return PQIndexRule(**pq_options(node, step=False))


def final_sparsity(node: Mapping[str, Any]) -> float:
    """A step schedule's target: `sparsity`, or 1 - `density` (SNIP's and PreCropping's key)."""
    sparsity, density = node.get("sparsity"), node.get("density")
    if (sparsity is None) == (density is None):
        raise ValueError(
            f"pruning/schedule={node['kind']} needs one of pruning.sparsity or pruning.density "
            f"(got sparsity={sparsity}, density={density})"
        )
    return float(sparsity) if sparsity is not None else 1.0 - float(density)


def one_shot(node: Mapping[str, Any]) -> OneShot:
    """`pruning/schedule=one_shot`: prune once at the start of epoch `prune_at`."""
    opts = options("schedule", node, ("sparsity", "density", "prune_at"))
    return OneShot(final_sparsity(opts | {"kind": "one_shot"}), opts.get("prune_at", 0))


def initial_sparsity(node: Mapping[str, Any]) -> float:
    """s_i of the cubic schedule: `initial_sparsity`, or 1 - `initial_density` (GraNet's key)."""
    sparsity, density = node.get("initial_sparsity"), node.get("initial_density")
    if sparsity is not None and density is not None:
        raise ValueError(
            "pruning/schedule=cubic takes initial_sparsity or initial_density, not both "
            f"(got {sparsity} and {density})"
        )
    if density is not None:
        return 1.0 - float(density)
    return 0.0 if sparsity is None else float(sparsity)


CUBIC = ("sparsity", "density", "initial_sparsity", "initial_density", "start_epoch",
         "end_epoch", "frequency", "initial_masks", "seed")  # fmt: skip


def cubic(node: Mapping[str, Any], through_end: bool) -> tuple[Cubic, Rule | None]:
    """`pruning/schedule=cubic` and the rule drawing its sparse initial masks (None: dense start,
    or `initial_masks: null`, which prunes to s_i by the method's rule at the first update)."""
    opts = options("schedule", node, CUBIC)
    start = opts.get("initial_masks")
    if start is not None and start not in INITIAL_MASKS:
        valid = ", ".join(INITIAL_MASKS)
        raise ValueError(f"pruning.schedule.initial_masks={start!r} is not one of null, {valid}")
    schedule = Cubic(
        opts.get("start_epoch", 0),
        opts.get("end_epoch"),
        opts.get("frequency", 100),
        initial_sparsity(opts),
        final_sparsity(opts | {"kind": "cubic"}),
        through_end=through_end,
    )
    if start is None:
        return schedule, None
    return schedule, RandomRule("erk" if start == "erk" else "layerwise", opts.get("seed"))


def levels(node: Mapping[str, Any]) -> tuple[Levels, float]:
    """`pruning/schedule=levels`: the plan, and the share of the remaining weights each level
    prunes (for a sparsity rule; the PQ-index rule decides its own amount)."""
    opts = options("schedule", node, ("levels", "epochs_per_level", "fraction"))
    return Levels(opts.get("levels", 5), opts.get("epochs_per_level", 3)), opts.get("fraction", 0.2)


def rewind(node: Mapping[str, Any]) -> LevelRewind:
    """`pruning/after=rewind` (`to`: init, step:K, lr, lr:K, none) or `finetune` (rewind none)."""
    if node["kind"] == "finetune":
        options("after", node, ())
        return LevelRewind("none")
    opts = options("after", node, ("to", "control", "seed"))
    return LevelRewind(opts.get("to", "init"), opts.get("control", "none"), opts.get("seed"))


REGROW = ("fraction", "fraction_min", "to")  # the options of pruning/after=regrow


def regrow(node: Mapping[str, Any], on_levels: bool = False) -> Regrow:
    """`pruning/after=regrow`: GraNet's drop-and-regrow, r decaying from `fraction` to
    `fraction_min` (capped at `fraction`) with a cosine over the run. `to` (the rewind after each
    level's regrowth) is for `on_levels` only: elsewhere it must be null."""
    opts = options("after", node, REGROW)
    if not on_levels and opts.get("to") is not None:
        raise ValueError(
            f"after.to={opts['to']} rewinds between levels: it needs pruning/schedule=levels"
        )
    fraction = opts.get("fraction", 0.5)
    return Regrow(fraction, min(opts.get("fraction_min", 0.005), fraction))


def level_regrow(node: Mapping[str, Any]) -> tuple[LevelRewind, Regrow]:
    """`pruning/after=regrow` on levels: the rewind `to` names (null: `init`, as
    `pruning/after=rewind`) and the regrowth after each level's pruning."""
    to = node.get("to")
    return LevelRewind("init" if to is None else to), regrow(node, on_levels=True)
