"""Record what ran: a method that decides the length of training sets `trainer.max_epochs`.

IMP, LTH and SAP train (levels + 1) x epochs_per_level epochs in one fit (their callbacks' declared
`planned_epochs`). The config tree already defaults `trainer.max_epochs` to that plan (the
`prunelab.planned_epochs` resolver of prunelab.config); a different value typed on the command
line cannot be honoured, so it is replaced by the plan with a one-line note, before the run
config is logged, stored in checkpoints or compared with a resumed run's. The run's
`.hydra/config.yaml`, where Hydra saved `max_epochs` unresolved, is rewritten to hold the number,
so every record of the run names the number of epochs it trained.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from pytorch_lightning.utilities import rank_zero_only

from prunelab.atomic import write_text

if TYPE_CHECKING:
    from prunelab.callbacks.base import PruningCallback


def planned_epochs(callbacks: Sequence[PruningCallback]) -> tuple[Any, int] | None:
    """The first callback that plans the length of training, and its plan; None if none does."""
    for callback in callbacks:
        if callback.planned_epochs:
            return callback, callback.planned_epochs
    return None


def hydra_config_file(run_dir: Path) -> Path | None:
    """The `config.yaml` Hydra saved for this run, if it saved one (not for re-launched DDP ranks,
    whose `hydra.output_subdir` is null, nor for `compose()`d configs)."""
    from hydra.core.hydra_config import HydraConfig

    subdir = HydraConfig.get().output_subdir if HydraConfig.initialized() else ".hydra"
    path = Path(run_dir) / subdir / "config.yaml" if subdir else None
    return path if path is not None and path.is_file() else None


def _rewrite_saved_max_epochs(run_dir: Path, epochs: int | None) -> None:
    """Put the trained `epochs` into the saved `.hydra/config.yaml` (kept unresolved otherwise,
    as Hydra writes it), so a reader without prunelab's resolvers sees the number too."""
    path = hydra_config_file(run_dir)
    if path is None:
        return
    saved = OmegaConf.load(path)
    trainer = saved.get("trainer")
    if not isinstance(trainer, DictConfig):
        return
    if OmegaConf.to_container(trainer, resolve=False).get("max_epochs") == epochs:
        return
    trainer.max_epochs = epochs
    write_text(path, OmegaConf.to_yaml(saved))


def follow_plan(cfg: DictConfig, callbacks: Sequence[PruningCallback], run_dir: Path) -> None:
    """Set `cfg.trainer.max_epochs` to the epochs the pruning method plans, noting on stderr a
    different value the user gave, and record the number in the run's saved config (rank 0)."""
    found = planned_epochs(callbacks)
    if found is not None:
        method, planned = found
        typed = cfg.trainer.get("max_epochs")
        if typed != planned and rank_zero_only.rank == 0:
            name = cfg.pruning.get("name")
            print(
                f"prunelab: note: trainer.max_epochs={typed} ignored: pruning={name} trains "
                f"(levels + 1) x epochs_per_level = ({method.levels} + 1) x "
                f"{method.epochs_per_level} = {planned} epochs",
                file=sys.stderr,
            )
        with read_write(cfg), open_dict(cfg):  # a number: what ran, not how it was derived
            cfg.trainer.max_epochs = planned
    if rank_zero_only.rank == 0:
        _rewrite_saved_max_epochs(run_dir, cfg.trainer.get("max_epochs"))
