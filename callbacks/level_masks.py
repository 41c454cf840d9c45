"""The per-level mask files of IMP and SAP: each level's masks are saved beside the run's
`checkpoints/` as `masks/level<L>.pt`, and a later run's `masks_from` installs them in place of
its own (the lottery-ticket controls). Files go through `prunelab.pruning.mask_io` (the one
loader: data, never code); another run's files are all read and checked before fit.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from prunelab.errors import ConfigError
from prunelab.pruning.mask_io import load_masks, save_masks
from prunelab.pruning.masks import MaskSet


def level_file(root: str | Path, level: int) -> Path:
    """Where the masks of `level` are kept: `<run dir>/masks/level<L>.pt`."""
    return Path(root) / "masks" / f"level{level}.pt"


class MasksFrom:
    """An earlier run's per-level masks, every level 1..`levels` present and readable.

    Raises:
        ConfigError: a level's file is missing (naming the levels); a damaged or hostile file
            is refused by the loader, before fit.
    """

    def __init__(self, root: str | Path, levels: int) -> None:
        self.root = Path(root)
        missing = [L for L in range(1, levels + 1) if not level_file(self.root, L).is_file()]
        if missing:
            raise ConfigError(
                f"pruning.masks_from={root} lacks the masks of levels {missing}: give "
                "the directory of an IMP run with at least as many levels"
            )
        for level in range(1, levels + 1):
            load_masks(level_file(self.root, level))

    def load(self, level: int) -> MaskSet:
        """The masks that run installed at `level`."""
        return load_masks(level_file(self.root, level))


def save_level_masks(trainer: pl.Trainer, level: int, masks: dict[str, torch.Tensor]) -> None:
    """On rank 0, save `level`'s masks beside the checkpoints directory (the run directory from
    the CLI), for a later control run; without a checkpoint directory, nowhere."""
    checkpoints = trainer.checkpoint_callback
    if trainer.is_global_zero and checkpoints is not None and checkpoints.dirpath:
        save_masks(level_file(Path(checkpoints.dirpath).parent, level), masks)
