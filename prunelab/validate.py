"""Refuse a bad configuration before any compute, naming the bad value and what would be valid."""

from __future__ import annotations

import math
from collections.abc import Sequence

from omegaconf import DictConfig

from prunelab.config import CHOICE_GROUPS, choices, config_dir
from prunelab.errors import ConfigError


def check_overrides(overrides: Sequence[str]) -> None:
    """Check `group=option` overrides (sweep lists too) against the options the tree offers."""
    for item in overrides:
        key, sep, value = item.lstrip("+~").partition("=")
        if not sep or key not in CHOICE_GROUPS or "(" in value or value in ("", "null"):
            continue
        valid = choices(key)
        nested = key == "experiment"  # presets in sub-folders too: experiment=repro/claim1
        for option in value.split(","):
            if option not in valid and not (nested and _in_folder(key, option)):
                raise ConfigError(
                    f"{key}={option} is not a known {key}; valid choices: {', '.join(valid)}"
                )


def _in_folder(group: str, option: str) -> bool:
    return (config_dir() / group / f"{option}.yaml").is_file()


def normalize(cfg: DictConfig) -> None:
    """Accept the shorthand a user types for a list of one: `pruning.exclude=fc.weight` is the
    one glob `[fc.weight]`, not the letters of a string."""
    from omegaconf import open_dict

    pruning = cfg.get("pruning")
    if pruning is not None and isinstance(pruning.get("exclude"), str):
        with open_dict(cfg):
            cfg.pruning.exclude = [pruning.exclude]


def _number(cfg: DictConfig, key: str, *bounds, **how) -> None:
    """Check the number at dotted `key` of `cfg` (absent or null passes); see `_check`."""
    value = cfg
    for part in key.split("."):
        value = value.get(part) if value is not None else None
    _check(key, value, *bounds, **how)


def _check(key, value, low=None, high=None, *, integer=False, open_low=False, open_high=False):
    """Refuse `value` unless it is a finite number (an integer if asked) within the bounds."""
    if value is None:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if integer else "a number"
        raise ConfigError(f"{key}={value!r} is not {expected}")
    if not math.isfinite(value):  # Hydra reads `nan` and `inf` as floats; no range test sees NaN
        raise ConfigError(f"{key}={value} is not a finite number")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if open_low else '>='} {low}"
        hi = "" if high is None else f"{'<' if open_high else '<='} {high}"
        raise ConfigError(
            f"{key}={value} is out of range; valid: {' and '.join(filter(None, [lo, hi]))}"
        )


# Lightning's precision names (`Trainer(precision=...)`), as strings: 16 and "16" are one value.
PRECISIONS = ("64", "32", "16", "bf16", "64-true", "32-true", "16-true", "bf16-true", "16-mixed",
              "bf16-mixed", "transformer-engine", "transformer-engine-float16")  # fmt: skip


def _trainer(trainer) -> None:
    """Refuse Trainer values Lightning refuses only after the heavy imports, or never."""
    devices = trainer.get("devices")
    if (
        isinstance(devices, int)
        and not isinstance(devices, bool)
        and (devices == 0 or devices < -1)
    ):
        raise ConfigError(
            f"trainer.devices={devices} is out of range; valid: a count >= 1, -1 (all), auto, "
            "or a list of device ids"
        )
    precision = trainer.get("precision")
    if precision is not None and str(precision) not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision={precision} is not one of {', '.join(PRECISIONS[4:])}"
        )
    for split in ("train", "val", "test"):
        key = f"limit_{split}_batches"
        value = trainer.get(key)
        if isinstance(value, float):  # a fraction of the batches
            _check(f"trainer.{key}", value, 0, 1)
        else:  # a number of batches
            _check(f"trainer.{key}", value, 0, integer=True)
    _check("trainer.check_val_every_n_epoch", trainer.get("check_val_every_n_epoch"), 1,
           integer=True)  # fmt: skip
    _check("trainer.log_every_n_steps", trainer.get("log_every_n_steps"), 1, integer=True)


def validate(cfg: DictConfig) -> None:
    """Check the composed run config's values; raise ConfigError naming the first bad one."""
    _number(cfg, "seed", 0, integer=True)
    _number(cfg, "data.batch_size", 1, integer=True)
    _number(cfg, "data.num_workers", 0, integer=True)
    _number(cfg, "data.num_classes", 2, integer=True)
    _number(cfg, "trainer.max_epochs", 1, integer=True)
    _number(cfg, "trainer.accumulate_grad_batches", 1, integer=True)
    _number(cfg, "optim.lr", 0, open_low=True)
    _number(cfg, "optim.momentum", 0, 1)
    _number(cfg, "optim.weight_decay", 0)
    _number(cfg, "sched.gamma", 0, 1, open_low=True)
    _number(cfg, "sched.warmup_steps", 0, integer=True)
    _number(cfg, "sched.min_lr_factor", 0, 1)
    _number(cfg, "sched.pct_start", 0, 1, open_low=True)
    _number(cfg, "trainer.gradient_clip_val", 0)
    _number(cfg, "pruning.frequency", 1, integer=True)
    _trainer(cfg.get("trainer") or {})
    for key in ("test_after_fit", "bench", "overwrite"):
        if not isinstance(cfg.get(key, False), bool):
            raise ConfigError(f"{key}={cfg.get(key)!r} must be true or false")
    for i, beta in enumerate(cfg.optim.get("betas") or []):
        _check(f"optim.betas[{i}]", beta, 0, 1, open_high=True)
    from prunelab.optim import OPTIMIZERS, SCHEDULES  # imports torch: after the quick checks

    if cfg.optim.name not in OPTIMIZERS:
        raise ConfigError(f"optim.name={cfg.optim.name} is not one of {', '.join(OPTIMIZERS)}")
    if cfg.sched.name not in SCHEDULES:
        raise ConfigError(f"sched.name={cfg.sched.name} is not one of {', '.join(SCHEDULES)}")
    marks = list(cfg.sched.get("milestones") or [])
    if not all(isinstance(m, (int, float)) and math.isfinite(m) for m in marks):
        raise ConfigError(f"sched.milestones={marks} must be finite numbers")
    if any(m <= 0 for m in marks) or marks != sorted(marks):
        raise ConfigError(f"sched.milestones={marks} must be positive and increasing")
    unit = cfg.sched.get("milestones_in", "fraction")
    if unit not in ("fraction", "epochs", "steps"):
        raise ConfigError(f"sched.milestones_in={unit} is not one of fraction, epochs, steps")
    if unit == "fraction" and any(m > 1 for m in marks):
        raise ConfigError(
            f"sched.milestones={marks} are fractions of training (<= 1); for epochs or steps "
            "set sched.milestones_in=epochs|steps"
        )
