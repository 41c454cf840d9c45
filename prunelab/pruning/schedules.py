"""Schedules: at which optimizer steps a method updates its masks, and to what sparsity.

`Levels` is the level plan of IMP and SAP (epochs only; the amount is the level rule's).

A schedule is given in epochs (as users write it) and turned into optimizer steps once the
length of training is known: `targets(steps_per_epoch, max_epochs)` maps each pruning step to its
target sparsity; `steps(...)` is every step at which the method acts, the pruning steps and, for
a schedule that goes on after pruning (GraNet's regrowth), the same grid on to the end of
training. One object says both, so the two can never disagree. Steps are optimizer steps, so
gradient accumulation does not change a schedule (`prunelab.pruning.schedule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prunelab.pruning.schedule import cubic_schedule


class Schedule:
    """The declared interface: `initial` and `final` sparsity, `targets`, `steps`, `check`."""

    initial: float
    final: float

    def targets(self, steps_per_epoch: int, max_epochs: int) -> dict[int, float]:
        """Optimizer step -> the sparsity to prune to at that step."""
        raise NotImplementedError(f"{type(self).__name__} does not define targets()")

    def steps(self, steps_per_epoch: int, max_epochs: int) -> Sequence[int]:
        """Every optimizer step at which the method acts, ascending; default: the pruning steps."""
        return tuple(sorted(self.targets(steps_per_epoch, max_epochs)))

    def check(self, max_epochs: int | None) -> None:
        """Refuse, with a ValueError naming the setting, a schedule that does not fit in
        `max_epochs` of training (None or negative: unbounded, nothing to check)."""


def _check_sparsity(name: str, value: float) -> None:
    if isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"{name}={value} must be a sparsity in [0, 1)")


@dataclass(frozen=True)
class OneShot(Schedule):
    """Prune once, to `final`, at the start of epoch `prune_at` (0 = at initialization; from a
    trained checkpoint: the loaded weights), then train on with the masks."""

    final: float
    prune_at: int = 0
    initial: float = field(default=0.0, init=False)  # dense until the one pruning step

    def __post_init__(self) -> None:
        _check_sparsity("sparsity", self.final)
        if (
            isinstance(self.prune_at, bool)
            or not isinstance(self.prune_at, int)
            or self.prune_at < 0
        ):
            raise ValueError(f"prune_at={self.prune_at!r} must be an epoch >= 0")

    def targets(self, steps_per_epoch: int, max_epochs: int) -> dict[int, float]:
        """One step: the first optimizer step of epoch `prune_at`."""
        return {self.prune_at * steps_per_epoch: self.final}

    def check(self, max_epochs: int | None) -> None:
        """The epoch `prune_at` must exist: below max_epochs."""
        if max_epochs is not None and max_epochs >= 0 and self.prune_at >= max_epochs:
            raise ValueError(
                f"prune_at={self.prune_at} does not fit in trainer.max_epochs={max_epochs}: "
                f"it must be below max_epochs"
            )


@dataclass(frozen=True)
class Cubic(Schedule):
    """Zhu & Gupta's cubic gradual schedule, from `initial` at epoch `start_epoch` to exactly
    `final` at the last update before `end_epoch`, one update every `frequency` optimizer steps.

    Args:
        start_epoch: the first update is the first step of this epoch.
        end_epoch: the window ends here (None = the end of training); an update runs before a
            batch, so the last one possible is before the last step of training.
        frequency: optimizer steps between updates.
        initial, final: s_i and s_f of the curve (sparsities).
        through_end: go on acting every `frequency` steps after the window until training ends,
            at `final` (GraNet's regrowth); the last such step leaves at least one optimizer step
            to train what it changed.
    """

    start_epoch: int
    end_epoch: int | None
    frequency: int
    initial: float
    final: float
    through_end: bool = False

    def __post_init__(self) -> None:
        _check_sparsity("initial", self.initial)
        _check_sparsity("final", self.final)
        if self.start_epoch < 0:
            raise ValueError(f"start_epoch={self.start_epoch} must be >= 0")
        if self.end_epoch is not None and self.end_epoch <= self.start_epoch:
            raise ValueError(f"end_epoch={self.end_epoch} must come after {self.start_epoch}")
        if self.frequency < 1:
            raise ValueError(f"frequency={self.frequency} must be >= 1 optimizer step")

    def targets(self, steps_per_epoch: int, max_epochs: int) -> dict[int, float]:
        """The target at each update step of the window (`cubic_schedule`: the last one gives
        `final` exactly)."""
        end_epoch = self.end_epoch if self.end_epoch is not None else max_epochs
        last_step = max_epochs * steps_per_epoch - 1
        start = self.start_epoch * steps_per_epoch
        end = min(end_epoch * steps_per_epoch, last_step)
        return cubic_schedule(start, end, self.frequency, self.initial, self.final)

    def steps(self, steps_per_epoch: int, max_epochs: int) -> Sequence[int]:
        """The window's update steps, and with `through_end` the same grid to the end."""
        if not self.through_end:
            return super().steps(steps_per_epoch, max_epochs)
        start = self.start_epoch * steps_per_epoch
        return range(start, max_epochs * steps_per_epoch, self.frequency)

    def check(self, max_epochs: int | None) -> None:
        """Pruning starts at the start of an epoch, so start_epoch < max_epochs; the window ends
        by max_epochs."""
        if max_epochs is None or max_epochs < 0:
            return
        if self.start_epoch >= max_epochs:
            raise ValueError(
                f"start_epoch={self.start_epoch} does not fit in trainer.max_epochs={max_epochs}: "
                f"it must be below max_epochs"
            )
        if self.end_epoch is not None and self.end_epoch > max_epochs:
            raise ValueError(
                f"end_epoch={self.end_epoch} does not fit in trainer.max_epochs={max_epochs}: "
                f"it must be at most max_epochs"
            )


@dataclass(frozen=True)
class Levels:
    """IMP's and SAP's plan: `levels` pruning levels after the dense level 0, each a training of
    `epochs_per_level` epochs, all in one fit of `planned_epochs` = (levels + 1) x epochs_per_level.

    Level L trains epochs [L * E, (L + 1) * E); its first epoch (L > 0) starts with pruning. How
    much each level prunes is the level rule's (`prunelab.pruning.rules`): SAP only knows it from
    the weights, so this plan names epochs, not sparsities. Bad values raise ValueError naming the
    setting.
    """

    levels: int
    epochs_per_level: int

    def __post_init__(self) -> None:
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 0:
            raise ValueError(f"levels={self.levels!r} must be an integer >= 0")
        epochs = self.epochs_per_level
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs_per_level={epochs!r} must be >= 1")

    @property
    def planned_epochs(self) -> int:
        """Epochs of the whole fit: N + 1 trainings of E epochs."""
        return (self.levels + 1) * self.epochs_per_level

    def level_of(self, epoch: int) -> int:
        """The level that trains in `epoch` (0-based)."""
        return epoch // self.epochs_per_level

    def start_epochs(self) -> tuple[int, ...]:
        """The epochs that start a pruning level: L * E for L = 1..N."""
        return tuple(level * self.epochs_per_level for level in range(1, self.levels + 1))

    def steps_per_level(self, steps_per_epoch: int) -> int:
        """Optimizer steps of one level (what a learning-rate schedule replayed per level spans)."""
        return steps_per_epoch * self.epochs_per_level

    def check(self, max_epochs: int | None) -> None:
        """Refuse a fit whose `max_epochs` is not exactly the plan's (levels end by epochs)."""
        if max_epochs != self.planned_epochs:
            raise ValueError(
                f"(levels + 1) x epochs_per_level = ({self.levels} + 1) x "
                f"{self.epochs_per_level} = {self.planned_epochs} epochs, but "
                f"trainer.max_epochs={max_epochs}"
            )
