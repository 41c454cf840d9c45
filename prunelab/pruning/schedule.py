"""When pruning happens and how much: cubic gradual pruning, GraNet's regrowth fraction, IMP levels.

Steps are optimizer steps (not batches), so gradient accumulation does not change a schedule.
"""

from __future__ import annotations

import math


def update_steps(start: int, end: int, frequency: int) -> list[int]:
    """The optimizer steps at which a gradual schedule updates the masks.

    `start + k * frequency` for k = 0 .. floor((end - start) / frequency): `start` is always one,
    `end` only if `end - start` is a multiple of `frequency`.
    """
    if frequency <= 0:
        raise ValueError(f"frequency must be a positive number of steps, got {frequency}")
    if end < start:
        raise ValueError(f"end step {end} is before start step {start}")
    return list(range(start, end + 1, frequency))


def cubic_sparsity(step: int, start: int, end: int, s_init: float, s_final: float) -> float:
    """Zhu & Gupta's cubic schedule: s = s_f + (s_i - s_f) * (1 - (step - start)/(end - start))^3.

    `s_init` before or at `start`, `s_final` at or after `end`; in between it rises fast, then
    flattens. Use `cubic_schedule` to get the value at each update step with the end point placed
    on the last update step.
    """
    if step >= end:
        return s_final
    if step <= start:
        return s_init
    remaining = 1.0 - (step - start) / (end - start)
    return s_final + (s_init - s_final) * remaining**3


def cubic_schedule(
    start: int, end: int, frequency: int, s_init: float, s_final: float
) -> dict[int, float]:
    """Target sparsity at each update step of a cubic gradual schedule.

    The formula's end point is the *last update step*, not `end`: when `end - start` is not a
    multiple of `frequency` there is no update at `end`, and a curve ending at `end` would stop
    short of `s_final` (GraNet's code, which updates up to `final_iter - 1`, never quite reaches
    its final density). Here the first update step gives `s_init` and the last gives exactly
    `s_final`. A single update step (start == end) gives `s_final`.
    """
    steps = update_steps(start, end, frequency)
    last = steps[-1]
    return {t: cubic_sparsity(t, start, last, s_init, s_final) for t in steps}


def cosine_decay(step: int, total_steps: int, r0: float = 0.5, r_min: float = 0.005) -> float:
    """GraNet's regrowth (death) fraction: cosine annealing from `r0` to `r_min`.

    r(t) = r_min + (r0 - r_min) * (1 + cos(pi * t / T)) / 2, the closed form of the
    `CosineAnnealingLR(T_max=T, eta_min=0.005)` that GraNet steps once per optimizer step with T
    the total training steps; `step` is the optimizer step count after the step (GraNet steps the
    decay before it prunes). Held at `r_min` past T (a cosine would climb back up).
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    t = min(max(step, 0), total_steps)
    return r_min + (r0 - r_min) * (1.0 + math.cos(math.pi * t / total_steps)) / 2.0


def imp_density(level: int, fraction: float) -> float:
    """Density after `level` IMP levels that each prune `fraction` of the remaining weights."""
    return (1.0 - fraction) ** level
