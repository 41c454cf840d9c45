"""The runs each claim needs, as `prunelab` command-line overrides.

A run lives in `<root>/<group>/<config>/seed<k>`; runs shared between claims (the dense models,
IMP with rewinding) are one task, listed by every claim that reads it. Recipes: OpenLTH's for
ResNet-20 (SGD momentum 0.9, wd 1e-4, lr 0.1 x0.1 at 1/2 and 3/4 of each training) everywhere
except claim 3, which uses GraNet's CIFAR recipe (Nesterov, wd 5e-4) for both of its methods.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from reproduce.budgets import Budget

CLAIMS = (1, 2, 3, 4, 5)
OPENLTH = ("optim=sgd", "optim.lr=0.1", "optim.momentum=0.9", "optim.weight_decay=1e-4")
OPENLTH_SCHED = ("sched=multistep", "sched.milestones=[0.5,0.75]")
GRANET = ("optim=sgd", "optim.lr=0.1", "optim.nesterov=true", "optim.weight_decay=5e-4")
FINETUNE = ("optim=sgd", "optim.lr=0.05", "optim.weight_decay=1e-4", "sched=cosine")
# config id -> pruning.control: IMP with late rewinding and its two controls (same rewind point)
IMP_CONTROLS = {
    "imp_rewind": "none",
    "imp_random_reinit": "random_reinit",
    "imp_random_prune": "random_prune",
}
ALLOCATIONS = ("global", "global_mt", "layerwise")  # config ids of claim 2's one-shot runs
# GlobalMP's minimum threshold, % of all prunable weights: the paper's 0.05 where feasible; on
# ResNet-20 (22 layers x 135 weights) it stops being feasible between 98.9% and 99% sparsity.
MT_PERCENTS = (0.05, 0.01)
PRECROP_COST = 0.5  # PreCropping's compute per step relative to dense, for the estimate only


@dataclass(frozen=True)
class Task:
    """One prunelab run: where it writes, its overrides, and its size for the time estimate."""

    group: str  # dense | claim1 ... claim5
    config: str  # config id, e.g. imp_rewind, global_s0.98
    seed: int
    overrides: tuple[str, ...]
    epochs: int  # trainer epochs of the whole run
    steps: int  # optimizer steps
    evals: int  # test-set evaluations (one per IMP/SAP level, one at the end otherwise)
    cost: float = 1.0  # compute per step relative to the dense network
    needs: tuple[str, ...] = ()  # keys of the tasks whose checkpoints it starts from

    @property
    def key(self) -> str:
        return f"{self.group}/{self.config}/seed{self.seed}"

    def run_dir(self, root: Path) -> Path:
        return Path(root) / self.key


def common(budget: Budget, data: tuple[str, ...], seed: int) -> tuple[str, ...]:
    """Overrides every run shares: data, model, limits, quiet CSV logging, the seed."""
    test = "null" if budget.test_batches is None else str(budget.test_batches)
    return (
        *data,
        "model=resnet20",
        f"data.batch_size={budget.batch_size}",
        f"trainer.limit_train_batches={budget.batches_per_epoch}",
        "trainer.limit_val_batches=0",  # no per-epoch validation: the test split is evaluated
        f"trainer.limit_test_batches={test}",  # at the end (and per level by IMP/SAP)
        "trainer.progress_bar=false",
        "trainer.enable_model_summary=false",
        "logger=csv",
        f"seed={seed}",
    )


def dense(budget: Budget, data: tuple[str, ...], seed: int) -> Task:
    over = (*common(budget, data, seed), *OPENLTH, *OPENLTH_SCHED, "pruning=none")
    over += (f"trainer.max_epochs={budget.epochs}",)
    return Task("dense", "none", seed, over, budget.epochs, budget.steps, 1)


def imp(budget: Budget, data: tuple[str, ...], seed: int, config: str, root: Path = Path()) -> Task:
    levels = budget.imp_levels + 1
    over = (*common(budget, data, seed), *OPENLTH, *OPENLTH_SCHED, "pruning=imp")
    over += (
        f"pruning.levels={budget.imp_levels}",
        f"pruning.epochs_per_level={budget.epochs}",
        f"pruning.fraction={budget.imp_fraction}",
        f"pruning.rewind=step:{budget.rewind_step}",
        "pruning.allocation=global",
        f"pruning.control={IMP_CONTROLS[config]}",
    )
    needs: tuple[str, ...] = ()
    if config != "imp_rewind":  # the paper's controls: the winning tickets' own masks
        ticket = f"claim1/imp_rewind/seed{seed}"
        over += (f"pruning.masks_from={Path(root).resolve() / ticket}",)
        needs = (ticket,)
    epochs, steps = budget.epochs * levels, budget.steps * levels
    return Task("claim1", config, seed, over, epochs, steps, levels, needs=needs)


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


def oneshot(budget, data, seed: int, allocation: str, sparsity: float, root: Path) -> Task | None:
    """One-shot pruning of the seed's dense network, then fine-tuning; None if MT is infeasible."""
    source = dense(budget, data, seed)
    rule, mt = ("layerwise", 0.0) if allocation == "layerwise" else ("global", 0.0)
    if allocation == "global_mt":
        mt = mt_for(sparsity)
        if mt is None:
            return None
    ckpt = source.run_dir(root) / "checkpoints" / "last.ckpt"
    over = (*common(budget, data, seed), *FINETUNE, "pruning=global_magnitude")
    over += (
        f"model.init_from={ckpt.resolve()}",
        f"trainer.max_epochs={budget.finetune_epochs}",
        f"pruning.sparsity={sparsity}",
        "pruning.prune_at=0",
        f"pruning.allocation={rule}",
        f"pruning.min_threshold={mt}",
    )
    epochs = budget.finetune_epochs
    config = f"{allocation}_s{sparsity:g}"
    steps = epochs * budget.batches_per_epoch
    return Task("claim2", config, seed, over, epochs, steps, 1, needs=(source.key,))


def gradual(budget: Budget, data: tuple[str, ...], seed: int, method: str, sparsity: float):
    over = (*common(budget, data, seed), *GRANET, *OPENLTH_SCHED, f"pruning={method}")
    over += (
        f"trainer.max_epochs={budget.epochs}",
        f"pruning.sparsity={sparsity}",
        "pruning.start_epoch=0",
        f"pruning.end_epoch={budget.gradual_end_epoch}",
        f"pruning.frequency={budget.gradual_frequency}",
        "pruning.allocation=global",
    )
    if method == "granet":  # dense-to-sparse, r from 0.5 down to 0.005 (the authors' values)
        over += ("pruning.initial_density=1.0", "pruning.regrow_fraction=0.5")
        over += ("pruning.regrow_fraction_min=0.005",)
    return Task("claim3", f"{method}_s{sparsity:g}", seed, over, budget.epochs, budget.steps, 1)


def sap(budget: Budget, data: tuple[str, ...], seed: int) -> Task:
    """SAP (0.5, 1), layer scope, with IMP's recipe and rewind point: only the amount differs."""
    levels = budget.sap_levels + 1
    over = (*common(budget, data, seed), *OPENLTH, *OPENLTH_SCHED, "pruning=pq_index")
    over += (
        f"pruning.levels={budget.sap_levels}",
        f"pruning.epochs_per_level={budget.epochs}",
        "pruning.p=0.5",
        "pruning.q=1.0",
        "pruning.scope=layer",
        f"pruning.rewind=step:{budget.rewind_step}",
    )
    epochs, steps = budget.epochs * levels, budget.steps * levels
    return Task("claim4", "sap_layer", seed, over, epochs, steps, levels)


def at_init(budget: Budget, data: tuple[str, ...], seed: int, method: str, density: float):
    over = (*common(budget, data, seed), *OPENLTH, *OPENLTH_SCHED, f"pruning={method}")
    over += (f"trainer.max_epochs={budget.epochs}", f"pruning.density={density}")
    if method == "precrop":
        over += ("pruning.source=snip", "pruning.budget=params")
    cost = PRECROP_COST if method == "precrop" else 1.0
    config = f"{method}_d{density:g}"
    return Task("claim5", config, seed, over, budget.epochs, budget.steps, 1, cost)


def claim_tasks(claim: int, budget: Budget, data: tuple[str, ...], root: Path) -> list[Task]:
    """The runs claim `claim` reads, shared ones included."""
    tasks: list[Task] = []
    for seed in budget.seeds:
        if claim == 1:
            tasks += [imp(budget, data, seed, config, root) for config in IMP_CONTROLS]
        if claim == 4:  # SAP against claim 1's IMP trajectory
            tasks += [imp(budget, data, seed, "imp_rewind"), sap(budget, data, seed)]
        if claim == 2:
            tasks.append(dense(budget, data, seed))
            for sparsity in budget.oneshot_sparsities:
                found = [oneshot(budget, data, seed, a, sparsity, root) for a in ALLOCATIONS]
                tasks += [t for t in found if t is not None]
        if claim == 3:
            for sparsity in budget.gradual_sparsities:
                tasks += [gradual(budget, data, seed, m, sparsity) for m in ("granet", "gmp")]
        if claim == 5:
            tasks.append(dense(budget, data, seed))
            for density in budget.precrop_densities:
                tasks += [at_init(budget, data, seed, m, density) for m in ("snip", "precrop")]
    return tasks


def plan(claims, budget: Budget, data: tuple[str, ...], root: Path) -> list[Task]:
    """Every run of the chosen claims, each once, in a stable order."""
    unique: dict[str, Task] = {}
    for claim in claims:
        for task in claim_tasks(claim, budget, data, root):
            unique.setdefault(task.key, task)
    return list(unique.values())
