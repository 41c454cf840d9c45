"""An IMP level's subnetwork at its rewind point, from an IMP run's checkpoint and mask files.

IMP (`pruning=imp` with `pruning.rewind=init` or `step:K`) keeps the network's whole state at
the rewind point in its checkpoint state (`snapshot`) and saves each level's masks as
`<run dir>/masks/level<L>.pt`; the subnetwork that level L trains is that state with those masks.
Both are read through the one loader (tensors only, never code). The copies of a level follow
the run's learning-rate schedule from the rewind step K, as the level itself did (`level_resume`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from prunelab.callbacks.level_masks import level_file
from prunelab.errors import ConfigError
from prunelab.export.checkpoint import bake_masks
from prunelab.loading import load_file
from prunelab.pruning.mask_io import load_masks
from prunelab.pruning.masks import MaskSet
from prunelab.pruning.rewind import parse_rewind
from prunelab.stability.copies import Resume


def rewind_snapshot(ckpt_path: str | Path) -> dict[str, torch.Tensor]:
    """The rewind-point state an IMP checkpoint keeps (its callback state's `snapshot`).

    Raises:
        ConfigError: the checkpoint keeps no snapshot (not IMP, or a rewind without weights).
    """
    raw = load_file(ckpt_path, "ckpt_path")
    states = raw.get("callbacks") if isinstance(raw, Mapping) else None
    found = [
        s["snapshot"]
        for s in (states.values() if isinstance(states, Mapping) else ())
        if isinstance(s, Mapping) and isinstance(s.get("snapshot"), Mapping)
    ]
    if len(found) != 1 or not all(isinstance(t, torch.Tensor) for t in found[0].values()):
        raise ConfigError(
            f"ckpt_path={ckpt_path} keeps no rewind point: level=L needs the checkpoint of an "
            "IMP run with pruning.rewind=init or step:K"
        )
    return dict(found[0])


def level_start(ckpt_path: str | Path, level: int) -> tuple[dict[str, torch.Tensor], MaskSet]:
    """(state, masks) of `level`'s subnetwork at the rewind point: pruned weights exactly 0.

    The masks are `<run dir>/masks/level<L>.pt`, the run directory being the one that holds the
    checkpoint's `checkpoints/` folder.

    Raises:
        ConfigError: no snapshot, no masks file for that level, or masks that do not fit.
    """
    if not isinstance(level, int) or level < 1:
        raise ConfigError(f"level={level}: give an IMP level >= 1 (level 0 is the dense network)")
    state = rewind_snapshot(ckpt_path)
    path = level_file(Path(ckpt_path).resolve().parent.parent, level)
    if not path.is_file():
        raise ConfigError(f"level={level}: {path} does not exist (the run has fewer levels?)")
    masks = load_masks(path, "level")
    try:
        return bake_masks(state, masks), masks
    except ValueError as exc:  # CheckpointError: a mask that does not fit the snapshot
        raise ConfigError(f"level={level}: {exc}") from exc


def level_resume(run: Mapping[str, Any]) -> Resume:
    """The learning-rate schedule an IMP run's level trains with: `epochs_per_level` epochs
    long, from the rewind step K (`pruning.rewind=step:K`; 0 for `init`), read from the run's
    resolved config (its parts `pruning.schedule` and `pruning.after` where it names them).

    Raises:
        ConfigError: the config names no levels (not a level-wise run).
    """
    pruning = run.get("pruning") or {}
    schedule, after = pruning.get("schedule") or {}, pruning.get("after") or {}
    epochs = schedule.get("epochs_per_level", pruning.get("epochs_per_level"))
    if not isinstance(epochs, int):
        raise ConfigError("level=L needs the checkpoint of a level-wise run (pruning.levels)")
    return Resume(parse_rewind(after.get("to", pruning.get("rewind", "init"))).step, epochs)
