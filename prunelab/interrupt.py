"""Nothing lost on interruption: a Ctrl-C or crash mid-run leaves a resumable checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info


class SaveOnInterrupt(pl.Callback):
    """On an exception during fit (KeyboardInterrupt included), save `<dirpath>/interrupted.ckpt`.

    `ckpt_path=<dirpath>/last.ckpt` (the last epoch boundary) resumes exactly: it replays the
    batches an uninterrupted run would have seen. `interrupted.ckpt` keeps the work done since,
    but Lightning counts its partial epoch as done, so a resume from it is not bit-exact.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / "interrupted.ckpt"

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        if trainer.state.fn != "fit":
            return
        trainer.save_checkpoint(self.path)
        rank_zero_info(f"interrupted ({type(exception).__name__}): saved {self.path}")
