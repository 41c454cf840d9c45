"""PruningCallback: what the `prunelab` command asks of a pruning method, declared once.

`prunelab.train` builds the method's callback from `conf/pruning/<name>.yaml` and talks to it only
through this interface (no attribute probing): how long the method trains when it decides that,
whether a Trainer length fits it, which weights the measured sparsity leaves out, and the figures
it adds to results.json. Every method in `prunelab.callbacks` is one; the defaults suit a method
that neither plans epochs nor adds figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl


class PruningCallback(pl.Callback):
    """The declared interface of a pruning method's callback (defaults for all of it)."""

    # Epochs the method trains for when it decides the length (IMP, SAP: (levels + 1) x
    # epochs per level); None when `trainer.max_epochs` is the user's to choose.
    planned_epochs: int | None = None
    # Name globs of prunable weights the method never prunes: left out of the measured sparsity.
    exclude: tuple[str, ...] = ()
    # One record per level or stage of a multi-stage method (results.json `stages`).
    stages: Sequence[dict[str, Any]] = ()

    def check_plan(self, max_epochs: int | None) -> None:
        """Refuse (ConfigError) a training length the method cannot run in; any fits by default."""

    @property
    def summary(self) -> dict[str, Any]:
        """The method's own final figures for results.json (e.g. GraNet's `best_val/acc`)."""
        return {}

    def results(self) -> dict[str, Any]:
        """Everything the method adds to results.json: `stages` and its `summary`."""
        return {"stages": list(self.stages), **self.summary}
