"""The reproduction's plan: the sweep presets each claim runs, and the runs they make.

The runs are the product's own sweeps, `prunelab -m experiment=repro/<preset>` of the presets in
conf/experiment/repro/, which hold the `full` budget and the recipes (OpenLTH's ResNet-20 recipe
everywhere except claim 3: GraNet's). A `Stage` is one such command: a preset plus the budget's
differences from it (none at the `full` budget: the user's command exactly) and its sweep axes.
A `Task` is one of its sweep points: the preset's folder of the job (`claim1/none_seed0`), and an
arm name (`claim1/imp_rewind`) under which the claim modules read its results.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from reproduce.budgets import FULL, Budget

CLAIMS = (1, 2, 3, 4, 5, 6)
# arm config -> pruning.control: IMP with late rewinding and its two controls (same rewind point)
IMP_CONTROLS = {
    "imp_rewind": "none",
    "imp_random_reinit": "random_reinit",
    "imp_random_prune": "random_prune",
}
# GlobalMP's minimum threshold, % of all prunable weights: the paper's 0.05 where feasible; on
# ResNet-20 (22 layers x 135 weights) it stops being feasible between 98.9% and 99% sparsity.
MT_PERCENTS = (0.05, 0.01)
PRECROP_COST = 0.5  # PreCropping's compute per step relative to dense, for the estimate only
LEVELS = ("claim1", "claim1_controls", "claim6")  # the IMP presets (claim 1's recipe)


@dataclass(frozen=True)
class Stage:
    """One `prunelab -m experiment=repro/<preset> <overrides>` command of the plan."""

    name: str  # unique in the plan: the preset, or the preset and what it adds
    preset: str
    overrides: tuple[str, ...]  # the budget's differences from the preset, then extra axes
    needs: tuple[str, ...] = ()  # stages whose runs this one's jobs read

    @property
    def args(self) -> tuple[str, ...]:
        return (f"experiment=repro/{self.preset}", *self.overrides)


@dataclass(frozen=True)
class Task:
    """One job of a stage: its folder below the results root and its size for the estimate."""

    group: str  # dense | claim1 ... claim6: the arm's claim
    config: str  # the arm within it, e.g. imp_rewind, global_s0.98
    seed: int
    folder: str  # the preset's job folder, e.g. claim1/none_seed0
    stage: str  # Stage.name
    steps: int  # optimizer steps
    evals: int  # test-set evaluations (one per IMP/SAP level, one at the end otherwise)
    cost: float = 1.0  # compute per step relative to the dense network

    @property
    def key(self) -> str:
        return self.folder

    @property
    def arm(self) -> str:
        return f"{self.group}/{self.config}"

    def run_dir(self, root: Path) -> Path:
        return Path(root) / self.folder


def listed(values) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def settings(preset: str, b: Budget) -> dict[str, str]:
    """Every value of the budget that `preset` holds, as command-line overrides."""
    test = "null" if b.test_batches is None else str(b.test_batches)
    found = {
        "seed": listed(b.seeds),
        "data.batch_size": str(b.batch_size),
        "trainer.limit_train_batches": str(b.batches_per_epoch),
        "trainer.limit_test_batches": test,
    }
    if preset in (*LEVELS, "claim4"):
        rewind = f"step:{b.rewind_step}"
        found["pruning.epochs_per_level"] = str(b.epochs)
        found["pruning.rewind"] = f"init,{rewind}" if preset == "claim6" else rewind
    if preset in LEVELS:
        found["pruning.levels"] = str(b.imp_levels)
        found["pruning.fraction"] = f"{b.imp_fraction:g}"
    elif preset == "claim4":
        found["pruning.levels"] = str(b.sap_levels)
    elif preset.startswith("claim2"):
        found["trainer.max_epochs"] = str(b.finetune_epochs)
    else:
        found["trainer.max_epochs"] = str(b.epochs)
    if preset == "claim2":
        found["pruning.sparsity"] = listed(b.oneshot_sparsities)
    if preset == "claim3":
        found["pruning.sparsity"] = listed(b.gradual_sparsities)
        found["pruning.end_epoch"] = str(b.gradual_end_epoch)
        found["pruning.frequency"] = str(b.gradual_frequency)
    if preset == "claim5":
        found["pruning.density"] = listed(b.precrop_densities)
    return found


def budget_overrides(preset: str, b: Budget) -> tuple[str, ...]:
    """The budget's differences from the preset (which holds the `full` budget)."""
    ours, preset_values = settings(preset, b), settings(preset, FULL)
    return tuple(f"{k}={v}" for k, v in ours.items() if preset_values.get(k) != v)


@functools.lru_cache
def mt_for(sparsity: float) -> float | None:
    """The first of MT_PERCENTS that ResNet-20 can honour at `sparsity` (None: none can).

    Feasible when every layer can keep min(its size, M) weights within the budget.
    """
    from prunelab.models import resnet20
    from prunelab.pruning.allocation import keep_total
    from prunelab.pruning.targets import prunable_parameters

    sizes = [p.numel() for p in prunable_parameters(resnet20()).values()]
    budget = keep_total(sum(sizes), sparsity)
    for mt in MT_PERCENTS:
        minimum = math.floor(sum(sizes) * mt / 100)
        if sum(min(n, minimum) for n in sizes) <= budget:
            return mt
    return None


def mt_groups(b: Budget) -> dict[float, tuple[float, ...]]:
    """Claim 2's minimum-threshold arm: the sparsities run with each MT (infeasible ones: none)."""
    groups: dict[float, tuple[float, ...]] = {}
    for sparsity in b.oneshot_sparsities:
        if (mt := mt_for(sparsity)) is not None:
            groups[mt] = (*groups.get(mt, ()), sparsity)
    return groups


def claim_stages(claim: int, b: Budget) -> list[Stage]:
    """The commands claim `claim` needs, earlier stages it reads included, in order."""
    dense = Stage("dense", "dense", budget_overrides("dense", b))
    claim1 = Stage("claim1", "claim1", budget_overrides("claim1", b))
    if claim == 1:
        controls = budget_overrides("claim1_controls", b)
        return [claim1, Stage("claim1_controls", "claim1_controls", controls, ("claim1",))]
    if claim == 2:
        stages = [dense, Stage("claim2", "claim2", budget_overrides("claim2", b), ("dense",))]
        for mt, sparsities in mt_groups(b).items():
            extra = (f"pruning.sparsity={listed(sparsities)}",)
            if mt != MT_PERCENTS[0]:  # the preset's own MT is the paper's 0.05
                extra += (f"pruning.min_threshold={mt:g}",)
            name = "claim2_mt" if mt == MT_PERCENTS[0] else f"claim2_mt{mt:g}"
            over = (*budget_overrides("claim2_mt", b), *extra)
            stages.append(Stage(name, "claim2_mt", over, ("dense",)))
        return stages
    if claim == 4:  # SAP against claim 1's IMP trajectory
        return [claim1, Stage("claim4", "claim4", budget_overrides("claim4", b))]
    if claim == 5:
        return [dense, Stage("claim5", "claim5", budget_overrides("claim5", b))]
    name = {3: "claim3", 6: "claim6"}[claim]
    return [Stage(name, name, budget_overrides(name, b))]


def stage_tasks(stage: Stage, b: Budget) -> list[Task]:
    """The jobs of `stage`: its sweep points, named as the preset names their folders."""
    levels = b.imp_levels + 1
    per_imp = dict(steps=b.steps * levels, evals=levels)
    one = dict(steps=b.steps, evals=1)
    found = []
    for s in b.seeds:
        if stage.preset == "dense":
            found.append(Task("dense", "none", s, f"dense/seed{s}", stage.name, **one))
        elif stage.preset in ("claim1", "claim1_controls"):
            arms = ["imp_rewind"] if stage.preset == "claim1" else list(IMP_CONTROLS)[1:]
            for arm in arms:
                folder = f"claim1/{IMP_CONTROLS[arm]}_seed{s}"
                found.append(Task("claim1", arm, s, folder, stage.name, **per_imp))
        elif stage.preset == "claim6":
            for point, arm in (("init", "imp_init"), (f"step:{b.rewind_step}", "imp_rewind")):
                folder = f"claim6/rewind_{point}_seed{s}"
                found.append(Task("claim6", arm, s, folder, stage.name, **per_imp))
        elif stage.preset == "claim4":
            rounds = b.sap_levels + 1
            size = dict(steps=b.steps * rounds, evals=rounds)
            found.append(Task("claim4", "sap_layer", s, f"claim4/sap_layer_seed{s}", stage.name,
                              **size))  # fmt: skip
        elif stage.preset.startswith("claim2"):
            found += _oneshot_tasks(stage, b, s)
        elif stage.preset == "claim3":
            for sparsity in b.gradual_sparsities:
                for method in ("granet", "gmp"):
                    folder = f"claim3/{method}_s{sparsity}_seed{s}"
                    found.append(Task("claim3", f"{method}_s{sparsity:g}", s, folder, stage.name,
                                      **one))  # fmt: skip
        elif stage.preset == "claim5":
            for density in b.precrop_densities:
                for method in ("snip", "precrop"):
                    cost = PRECROP_COST if method == "precrop" else 1.0
                    folder = f"claim5/{method}_d{density}_seed{s}"
                    found.append(Task("claim5", f"{method}_d{density:g}", s, folder, stage.name,
                                      **one, cost=cost))  # fmt: skip
    return found


def _oneshot_tasks(stage: Stage, b: Budget, seed: int) -> list[Task]:
    size = dict(steps=b.finetune_epochs * b.batches_per_epoch, evals=1)
    if stage.preset == "claim2":
        arms = [(a, 0.0, s) for s in b.oneshot_sparsities for a in ("global", "layerwise")]
    else:
        given = dict(o.partition("=")[::2] for o in stage.overrides)
        mt = float(given.get("pruning.min_threshold", MT_PERCENTS[0]))
        arms = [("global_mt", mt, s) for s in mt_groups(b)[mt]]
    found = []
    for arm, mt, sparsity in arms:
        allocation = "layerwise" if arm == "layerwise" else "global"
        folder = f"claim2/{allocation}_mt{mt}_s{sparsity}_seed{seed}"
        found.append(Task("claim2", f"{arm}_s{sparsity:g}", seed, folder, stage.name, **size))
    return found


def plan_stages(claims, b: Budget) -> list[Stage]:
    """Every command of the chosen claims, each once, earlier stages first."""
    unique: dict[str, Stage] = {}
    for claim in claims:
        for stage in claim_stages(claim, b):
            unique.setdefault(stage.name, stage)
    return list(unique.values())


def claim_tasks(claim: int, b: Budget) -> list[Task]:
    """The runs claim `claim` reads, shared ones included."""
    return [t for stage in claim_stages(claim, b) for t in stage_tasks(stage, b)]


def plan(claims, b: Budget) -> list[Task]:
    """Every run of the chosen claims, each once, in a stable order."""
    return [t for stage in plan_stages(claims, b) for t in stage_tasks(stage, b)]
