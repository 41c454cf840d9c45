"""Experiment tracking: W&B (offline unless the user configured it) beside a CSV file."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger


def wandb_configured() -> bool:
    """Whether W&B has credentials, so going online cannot end in a login prompt."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode(requested: str | None) -> str:
    """`requested`, else WANDB_MODE, else online only when credentials exist."""
    return (
        requested or os.environ.get("WANDB_MODE") or ("online" if wandb_configured() else "offline")
    )


def build_loggers(cfg: Any, run_dir: Path, name: str, config: dict) -> list[Logger]:
    """The loggers `cfg` (the `logger` config group) asks for, writing under `run_dir`."""
    loggers: list[Logger] = []
    if cfg.get("csv", True):
        # name="" and version="" put metrics.csv at the run directory's top, as the contract says.
        loggers.append(CSVLogger(save_dir=str(run_dir), name="", version=""))
    if cfg.get("wandb", False):
        mode = wandb_mode(cfg.get("mode"))
        os.environ.setdefault("WANDB_SILENT", "true")
        wandb = WandbLogger(
            name=name,
            save_dir=str(run_dir),
            project=cfg.get("project", "prunelab"),
            entity=cfg.get("entity"),
            group=cfg.get("group"),
            mode=mode,
            offline=mode == "offline",
        )
        loggers.append(wandb)
    for logger in loggers:
        logger.log_hyperparams(config)
    return loggers
