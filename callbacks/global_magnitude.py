"""Global magnitude pruning (Gupta et al. 2022): one-shot, or gradual on the cubic schedule.

A construction: `MagnitudeRule(allocation, min_threshold, pattern)` on `OneShot(sparsity,
prune_at)` or `Cubic(start_epoch, end_epoch, frequency, initial_sparsity, sparsity)`, no
after-pruning action (the masks are fine-tuned with).

With `pattern="N:M"` (2:4 for NVIDIA's sparse tensor cores) each group of M consecutive input
weights keeps its N largest (`prunelab.pruning.nm`): one-shot only (masks that only shrink cannot
hold N of M at a cubic schedule's intermediate sparsities), `sparsity` must be 1 - N/M, and
layers whose input dimension is not a multiple of M must be excluded (refused otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prunelab.callbacks.method import PruningMethod
from prunelab.errors import ConfigError
from prunelab.pruning.nm import check_nm, check_pattern_rule
from prunelab.pruning.policy import check_allocation
from prunelab.pruning.rules import MagnitudeRule
from prunelab.pruning.schedules import Cubic, OneShot

SCHEDULES = ("oneshot", "gradual")


def check_gradual(
    sparsity: float,
    start_epoch: int,
    end_epoch: int | None,
    frequency: int,
    initial_sparsity: float = 0.0,
    prune_at: int = 0,
) -> None:
    """Refuse bad schedule values with a message naming the `pruning.*` key (ConfigError)."""
    if not 0 <= sparsity < 1:
        raise ConfigError(f"pruning.sparsity={sparsity} must be in [0, 1)")
    if not 0 <= initial_sparsity <= sparsity:
        raise ConfigError(
            f"pruning.initial_sparsity={initial_sparsity} must be in [0, sparsity={sparsity}]"
        )
    if prune_at < 0 or start_epoch < 0:
        raise ConfigError(f"pruning.prune_at={prune_at} / start_epoch={start_epoch} must be >= 0")
    if end_epoch is not None and end_epoch <= start_epoch:
        raise ConfigError(
            f"pruning.end_epoch={end_epoch} must come after pruning.start_epoch={start_epoch}"
        )
    if frequency < 1:
        raise ConfigError(f"pruning.frequency={frequency} must be >= 1 optimizer step")


def check_pattern(
    pattern: str, schedule: str, sparsity: float, allocation: str, min_threshold: float
) -> None:
    """Refuse an N:M pattern with settings it cannot honour (ConfigError naming `pruning.*`)."""
    try:
        check_pattern_rule(pattern, allocation, min_threshold)
        check_nm({}, pattern, sparsity)  # the target must be 1 - N/M; layers are checked at setup
    except ValueError as exc:
        raise ConfigError(f"pruning.{exc}") from exc
    if schedule != "oneshot":
        raise ConfigError(
            f"pruning.pattern={pattern} needs pruning.schedule=oneshot, not {schedule}: "
            "N of every M cannot hold at a gradual schedule's intermediate sparsities"
        )


class GlobalMagnitudePruning(PruningMethod):
    """Prune the smallest-magnitude weights to an exact target sparsity.

    Args:
        sparsity: final fraction of prunable weights that are zero, in [0, 1).
        schedule: `oneshot` (prune once at the start of epoch `prune_at`, 0 = at
            initialization, then train on with the masks) or `gradual` (the cubic schedule from
            `start_epoch` to `end_epoch`, updating every `frequency` optimizer steps).
        allocation: `global`, `layerwise` or `erk` (see `prunelab.pruning.policy`).
        min_threshold: GlobalMP's minimum threshold M, percent of all prunable weights (0 = off).
        initial_sparsity: the gradual schedule's starting sparsity s_i (0 = dense-to-sparse).
        pattern: `"N:M"`, e.g. `"2:4"` (one-shot; `sparsity` = 1 - N/M), or None = unstructured.
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
    """

    def __init__(
        self,
        sparsity: float,
        schedule: str = "oneshot",
        prune_at: int = 0,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        frequency: int = 100,
        initial_sparsity: float = 0.0,
        allocation: str = "global",
        min_threshold: float = 0.0,
        pattern: str | None = None,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        **common: Any,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ConfigError(f"pruning.schedule={schedule!r} is not one of {', '.join(SCHEDULES)}")
        check_gradual(sparsity, start_epoch, end_epoch, frequency, initial_sparsity, prune_at)
        check_allocation(allocation, min_threshold)
        if pattern is not None:
            check_pattern(pattern, schedule, sparsity, allocation, min_threshold)
        if schedule == "oneshot":
            timing = OneShot(sparsity, prune_at)
        else:
            timing = Cubic(start_epoch, end_epoch, frequency, initial_sparsity, sparsity)
        super().__init__(
            MagnitudeRule(allocation, min_threshold, pattern),
            timing,
            exclude=exclude,
            collapse_threshold=collapse_threshold,
            plot=plot,
            **common,
        )

    @property
    def sparsity(self) -> float:
        """The final target sparsity."""
        return self.schedule.final

    @property
    def allocation(self) -> str:
        """The rule's allocation; assigning one rebinds the rule (checked)."""
        return self.rule.allocation

    @allocation.setter
    def allocation(self, value: str) -> None:
        self.rule = MagnitudeRule(value, self.rule.min_threshold, self.rule.pattern)

    @property
    def min_threshold(self) -> float:
        """GlobalMP's minimum threshold, percent of all prunable weights (0 = off)."""
        return self.rule.min_threshold

    @property
    def pattern(self) -> str | None:
        """The N:M pattern (e.g. `"2:4"`), or None = unstructured."""
        return self.rule.pattern
