"""After-pruning actions: what a method does at its update steps besides pruning.

`Regrow` is GraNet's zero-cost neuroregeneration (ALGORITHMS.md section 3): at every update step
after the first optimizer step, per layer, drop ceil(r * nnz) of the smallest-magnitude active
weights and regrow as many at the inactive positions with the largest |gradient| of the current
batch (`prunelab.pruning.regrow`), r decaying with a cosine over training
(`prunelab.pruning.schedule.cosine_decay`). Each layer keeps its count, so regrowth never changes
the sparsity a schedule set. The action keeps its run record (the last r, the weights regrown so
far) and saves it in checkpoints. (Rewinding, the other family of actions, comes with IMP's
levels.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning import rewind as rw
from prunelab.pruning.masks import MaskSet, count_kept
from prunelab.pruning.regrow import prune_and_regrow
from prunelab.pruning.schedule import cosine_decay
from prunelab.pruning.scores import random_scores
from prunelab.pruning.selection import select

Tensors = Mapping[str, torch.Tensor]


@dataclass
class Regrow:
    """Drop and regrow a share r of each layer's active weights at every update step.

    Args:
        fraction: r at step 0; 0 keeps the masks as they are (then the method is plain GMP).
        fraction_min: the floor r decays to with a cosine over the whole run (<= `fraction`).
    """

    fraction: float = 0.5
    fraction_min: float = 0.005
    fraction_now: float = field(init=False)  # r of the last update
    regrown_total: int = field(default=0, init=False)  # weights regrown over the run

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction_min <= self.fraction <= 1.0:
            raise ValueError(
                f"regrowth fractions must satisfy 0 <= fraction_min={self.fraction_min} "
                f"<= fraction={self.fraction} <= 1"
            )
        self.fraction_now = self.fraction

    def acts_at(self, step: int) -> bool:
        """Whether the action runs at update step `step` (optimizer steps done): from step 1 on,
        since it needs the gradient of the batch of that step, and none exists before."""
        return step > 0

    def fraction_at(self, step: int, total_steps: int) -> float:
        """r after `step` of `total_steps` optimizer steps: cosine from `fraction` to the floor."""
        return cosine_decay(step, max(total_steps, 1), self.fraction, self.fraction_min)

    def masks(self, masks: Tensors, params: Tensors, grads: Tensors, fraction: float) -> MaskSet:
        """New masks: per layer, the ceil(r * nnz) smallest |w| dropped, as many regrown by the
        largest |grad| among the inactive positions (`prune_and_regrow`)."""
        new, _ = prune_and_regrow(masks, params, grads, fraction)
        return new

    def record(
        self, before: Tensors, pruned: Tensors, after: Tensors, fraction: float
    ) -> dict[str, float]:
        """Count one update into the run record and return its metrics.

        Args:
            before: the masks before the update step (before its pruning).
            pruned: the masks after pruning, before regrowth.
            after: the masks installed after regrowth.
            fraction: the r used.

        Returns:
            `prune/regrow_fraction` (r), `prune/regrown` (weights regrown) and `prune/churn`
            (the share of the active weights after the update that were inactive before it).
        """
        regrown = sum(int((after[n] & ~pruned[n]).sum()) for n in after)
        new = sum(int((after[n] & ~before[n]).sum()) for n in after)
        active = count_kept(after)
        self.fraction_now, self.regrown_total = fraction, self.regrown_total + regrown
        churn = new / active if active else 0.0
        return {
            "prune/regrow_fraction": fraction,
            "prune/regrown": float(regrown),
            "prune/churn": churn,
        }

    def summary(self) -> dict[str, float]:
        """Final results entries: the weights regrown over the run."""
        return {"prune/regrown_total": self.regrown_total}

    def state_dict(self) -> dict[str, Any]:
        """The run record, under the keys GraNet's checkpoints have always used."""
        return {"regrow_fraction_now": self.fraction_now, "regrown_total": self.regrown_total}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the run record (older checkpoints without it: a fresh record)."""
        self.fraction_now = state.get("regrow_fraction_now", self.fraction)
        self.regrown_total = state.get("regrown_total", 0)


CONTROLS = ("none", "random_reinit", "random_prune")


def level_seed(seed: int, level: int) -> int:
    """The seed of a control's random draw at `level` (the same on every rank and on resume)."""
    return (seed * 1_000_003 + level) % 2**63


@dataclass
class LevelRewind:
    """After a level's pruning: rewind weights and learning rate, or a control in their place.

    Args:
        rewind: `init` (step 0), `step:K` (the whole state at optimizer step K), `lr` / `lr:K`
            (keep the weights, replay the LR schedule from step 0 / K) or `none` (keep both).
        control: `none`, `random_reinit` (a fresh initialization instead of the weight rewind)
            or `random_prune` (each layer keeps the given masks' count, at random positions).
            The given masks are the controlled IMP run's of the same level (`masks_from`, which
            `LevelPruning` requires with a control).
        seed: seed of the controls' draws; None until `resolve_seed` (the run's seed).
    """

    rewind: str = "init"
    control: str | None = "none"
    seed: int | None = None
    point: rw.Rewind = field(init=False)  # the parsed rewind
    snapshot: dict[str, torch.Tensor] | None = field(default=None, init=False)  # state at step K

    def __post_init__(self) -> None:
        self.control = self.control or "none"
        if self.control not in CONTROLS:
            raise ConfigError(
                f"pruning.control={self.control!r} is not one of {', '.join(CONTROLS)}"
            )
        self.point = rw.parse_rewind(self.rewind)
        if self.control == "random_reinit" and self.point.mode != "weights":
            raise ConfigError(
                f"pruning.control=random_reinit replaces a weight rewind by a fresh init: it needs "
                f"pruning.rewind=init or step:K, not {self.rewind!r}"
            )

    def spec(self) -> str:
        """The rewind point as written in configs (`init`, `step:K`, `lr`, `lr:K`, `none`)."""
        mode, step = self.point
        if mode == "weights":
            return "init" if step == 0 else f"step:{step}"
        return mode if step == 0 else f"lr:{step}"

    def check(self, steps_per_level: int) -> None:
        """Refuse a rewind step that is not inside level 0 (it would never be snapshotted)."""
        if self.point.step >= steps_per_level:
            raise ConfigError(
                f"pruning.rewind step {self.point.step} is not inside level 0, which has "
                f"{steps_per_level} optimizer steps"
            )

    def resolve_seed(self) -> None:
        """Fix the controls' seed to the run's seed when none was given."""
        if self.seed is None:
            self.seed = torch.initial_seed()

    def snapshot_due(self, level: int, step: int) -> bool:
        """Whether optimizer step `step` of `level` is the rewind point, not yet snapshotted."""
        due = self.point.mode == "weights" and level == 0 and self.snapshot is None
        return due and step == self.point.step

    def take_snapshot(self, network: nn.Module) -> None:
        """Keep the network's whole state (a CPU copy) as the rewind point."""
        self.snapshot = rw.snapshot(network)

    def masks(self, params: Mapping, current: Mapping, masks: MaskSet, level: int) -> MaskSet:
        """The masks to install: `masks` (the rule's or the controlled run's), or with
        `random_prune` as many per layer as `masks` keeps, drawn uniformly among the active
        positions of `current`. The draws nest (a pruned weight stays pruned, also without a
        weight rewind), and since the controlled run's masks nest too, each level's draw is a
        uniform shuffle of that level's mask within each layer, as OpenLTH's control."""
        if self.control != "random_prune":
            return masks
        generator = torch.Generator().manual_seed(level_seed(self.seed, level))
        counts = {n: int(m.sum()) for n, m in masks.items()}
        return select(random_scores(params, generator), current, counts)

    def weights(
        self, network: nn.Module, level: int, init_fn: Callable[[nn.Module], object] | None = None
    ) -> None:
        """Rewind the network's state: a fresh init (`random_reinit`, drawn from the level's
        seed with `init_fn`), the snapshot (a weight rewind) or nothing (`lr`, `none`)."""
        if self.control == "random_reinit":
            rw.reinitialize(network, level_seed(self.seed, level), init_fn)
        elif self.point.mode == "weights":
            rw.restore(network, self.snapshot)

    def schedules(
        self,
        optimizers: Iterable[torch.optim.Optimizer],
        schedulers: Iterable[tuple[Any, str]],
        steps_per_epoch: int,
    ) -> None:
        """Zero the optimizer state and put each (scheduler, interval) at step K (an `epoch`
        scheduler at epoch K // steps_per_epoch); `none` keeps both."""
        if self.point.mode == "none":
            return
        for optimizer in optimizers:
            rw.reset_optimizer(optimizer)
        step = self.point.step
        for scheduler, interval in schedulers:
            rw.schedule_lrs(scheduler, step if interval == "step" else step // steps_per_epoch)

    def state_dict(self) -> dict[str, Any]:
        """The snapshot and the seed, under the keys IMP's checkpoints have always used."""
        return {"snapshot": self.snapshot, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the snapshot and seed (a checkpoint without a seed keeps this one's)."""
        self.snapshot = state.get("snapshot")
        self.seed = state.get("seed", self.seed)
