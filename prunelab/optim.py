"""Optimizers and learning-rate schedules, built from the plain `optim` and `sched` configs.

Every schedule is a pure function of the optimizer step, so a pruning callback can put it back at
any step (IMP's rewinding) by setting the scheduler's step counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("multistep", "cosine", "onecycle", "constant")


def build_optimizer(params, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Return the optimizer named by `cfg.name` over `params`."""
    name = cfg["name"]
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg["lr"],
            momentum=cfg.get("momentum", 0.9),
            nesterov=cfg.get("nesterov", False),
            weight_decay=cfg.get("weight_decay", 0.0),
        )
    if name == "adam":
        return torch.optim.Adam(
            params,
            lr=cfg["lr"],
            betas=tuple(cfg.get("betas", (0.9, 0.999))),
            weight_decay=cfg.get("weight_decay", 0.0),
        )
    raise ValueError(f"optim.name={name!r} is not one of {OPTIMIZERS}")


def lr_factor(
    cfg: Mapping[str, Any], total_steps: int, steps_per_epoch: int = 1
) -> Callable[[int], float]:
    """The multiplier of the base learning rate at each optimizer step, for a schedule of
    `total_steps` steps. Past the end it holds the final value (fine-tuning continues there).

    Multistep milestones are read in the unit `cfg.milestones_in`: `fraction` of the schedule
    (default), `epochs` (times `steps_per_epoch`) or `steps`.
    """
    name = cfg["name"]
    total = max(1, int(total_steps))
    warmup = int(cfg.get("warmup_steps", 0) or 0)

    def warm(step: int, base: float) -> float:
        return base * min(1.0, (step + 1) / warmup) if warmup and step < warmup else base

    if name == "constant":
        return lambda step: warm(step, 1.0)
    if name == "multistep":
        unit = cfg.get("milestones_in", "fraction")
        scale = {"fraction": total, "epochs": steps_per_epoch, "steps": 1}.get(unit)
        if scale is None:
            raise ValueError(f"sched.milestones_in={unit!r} is not one of fraction, epochs, steps")
        marks = [int(round(m * scale)) for m in cfg["milestones"]]
        gamma = cfg.get("gamma", 0.1)
        return lambda step: warm(step, gamma ** sum(step >= m for m in marks))
    if name == "cosine":
        floor = cfg.get("min_lr_factor", 0.0)

        def cosine(step: int) -> float:
            t = min(max(step - warmup, 0) / max(1, total - warmup), 1.0)
            return warm(step, floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))

        return cosine
    if name == "onecycle":
        rise = max(1, int(cfg.get("pct_start", 0.25) * total))

        def onecycle(step: int) -> float:
            if step < rise:
                return 0.04 + 0.96 * step / rise  # from lr/25, as torch's OneCycleLR
            t = min((step - rise) / max(1, total - rise), 1.0)
            return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * t))

        return onecycle
    raise ValueError(f"sched.name={name!r} is not one of {SCHEDULES}")


def build_scheduler(optimizer, cfg: Mapping[str, Any], total_steps: int, steps_per_epoch: int = 1):
    """A per-step LambdaLR following `lr_factor`."""
    factor = lr_factor(cfg, total_steps, steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
