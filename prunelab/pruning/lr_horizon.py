"""Whether a learning-rate scheduler fits one IMP/SAP level.

Level-wise methods replay the user's scheduler at every level: from rewind step K for a
step-interval scheduler, from the start of K's epoch for an epoch-interval one. That is the
level's schedule only if the scheduler was written over one level. A scheduler written over the
whole fit (e.g. `OneCycleLR(total_steps=trainer.estimated_stepping_batches)`) would give every
level the first slice of it, so a scheduler whose *horizon* (the position where it has run its
course) lies beyond one level is refused. Schedulers without a horizon (StepLR, ExponentialLR,
LambdaLR) cannot be checked and are replayed as they are.
"""

from __future__ import annotations

from torch.optim import lr_scheduler as lrs


def horizon(scheduler: lrs.LRScheduler) -> int | None:
    """The number of `scheduler.step()` calls after which its schedule is complete, if known."""
    if isinstance(scheduler, lrs.OneCycleLR):
        return int(scheduler.total_steps)
    if isinstance(scheduler, lrs.CosineAnnealingLR):
        return int(scheduler.T_max)
    if isinstance(scheduler, (lrs.LinearLR, lrs.ConstantLR, lrs.PolynomialLR)):
        return int(scheduler.total_iters)
    if isinstance(scheduler, lrs.MultiStepLR):
        return max(scheduler.milestones, default=0)
    if isinstance(scheduler, lrs.SequentialLR):
        parts = [horizon(s) for s in scheduler._schedulers]
        if parts and parts[-1] is not None:
            return max(scheduler._milestones, default=0) + parts[-1]
    return None


def check_fits_level(scheduler: lrs.LRScheduler, interval: str, level_length: int) -> None:
    """Refuse a scheduler whose horizon exceeds one level.

    Args:
        scheduler: the user's scheduler.
        interval: Lightning's `interval` for it: "step" or "epoch".
        level_length: optimizer steps (interval "step") or epochs ("epoch") in one level.

    Raises:
        ValueError: the scheduler runs past one level; the message says how to write it.
    """
    end = horizon(scheduler)
    if end is None or end <= level_length:
        return
    unit = "optimizer steps" if interval == "step" else "epochs"
    hint = "steps_per_level" if interval == "step" else "epochs_per_level"
    raise ValueError(
        f"the learning-rate scheduler {type(scheduler).__name__} runs for {end} {unit}, but one "
        f"pruning level has {level_length}: the level-wise method replays it at every level, so "
        f"write it over one level (e.g. its length = the callback's `{hint}`, known once "
        "the Trainer has set up, which is before configure_optimizers runs)"
    )
