"""Lightning's checkpoint reads and writes, made safe: the one loader in, atomic files out.

`Trainer(plugins=[SafeCheckpointIO()])` routes every checkpoint Lightning touches through here:
`last.ckpt` after every epoch, `interrupted.ckpt`, and `fit(ckpt_path=...)`. Lightning's own
`TorchCheckpointIO` fetches URLs and unpickles them with `weights_only=False`, and writes over the
previous file in place, so a full disk leaves nothing to resume from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning_fabric.plugins import CheckpointIO

from prunelab.atomic import save_torch
from prunelab.loading import LoadError, load_file

# What every checkpoint that `Trainer.save_checkpoint` writes holds, and resuming needs.
RESUME_KEYS = ("state_dict", "epoch", "global_step", "loops")


class SafeCheckpointIO(CheckpointIO):
    """Save atomically (temporary file, then rename); load local files, tensors only."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        """Write `checkpoint` to `path`; a failed write raises WriteError and keeps the old file."""
        if storage_options is not None:
            raise TypeError("SafeCheckpointIO takes no storage_options")
        save_torch(checkpoint, path)

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Read a checkpoint with the one loader (always `weights_only=True`, on the CPU; the
        strategy moves the state to the device when it restores it)."""
        return read_resume_checkpoint(path)

    def remove_checkpoint(self, path: str | Path) -> None:
        """Delete a checkpoint file that is no longer kept."""
        Path(path).unlink(missing_ok=True)


def read_resume_checkpoint(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """A Lightning training checkpoint to resume from, read by the one loader.

    Raises:
        LoadError: a URL, missing, unreadable, holds code, or not a training checkpoint.
    """
    raw = load_file(path, "ckpt_path", mmap=mmap)
    missing = [k for k in RESUME_KEYS if not isinstance(raw, Mapping) or k not in raw]
    if missing:
        raise LoadError(
            f"ckpt_path={path} is not a Lightning training checkpoint (it lacks {missing[0]!r}); "
            "resume from a run's checkpoints/last.ckpt, or start from weights with model.init_from="
        )
    return dict(raw)
