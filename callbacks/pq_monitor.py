"""PQIndexMonitor: watch the compressibility of the weights during any training or pruning run.

Logs the PQ index (Diao et al. 2023) of the unpruned prunable weights, of the whole network as one
vector (`prune/pq_index`) and of every layer (`prune/pq_index/<name>`). The paper's observation is
that it first falls and then rises as a network nears its compressibility limit. Add it beside
any method (IMP, GraNet, ...): `callbacks=[IterativeMagnitudePruning(...), PQIndexMonitor()]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytorch_lightning as pl
import torch

from prunelab.callbacks.masked import MaskedTraining, pruning_root
from prunelab.pruning.masks import ones_masks
from prunelab.pruning.sap import layer_pq_indices, network_pq_index
from prunelab.pruning.targets import prunable_parameters


def pq_metrics(
    weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], p: float, q: float
) -> dict[str, float]:
    """`prune/pq_index` (all weights as one vector) and `prune/pq_index/<name>` per layer."""
    metrics = {"prune/pq_index": network_pq_index(weights, masks, p, q)}
    layers = layer_pq_indices(weights, masks, p, q)
    metrics.update({f"prune/pq_index/{n}": value for n, value in layers.items()})
    return metrics


class PQIndexMonitor(pl.Callback):
    """Log the PQ index of the network and of each layer at the end of every n-th epoch.

    The unpruned entries are those of the run's `MaskedTraining` callback (any prunelab pruning
    method), over its prunable weights; without one, every conv/linear weight not excluded.

    Args:
        p, q: the PQ index's norms, 0 < p < q (the paper's defaults: 0.5 and 1).
        every_n_epochs: log at the end of epochs n-1, 2n-1, ...
        exclude: name globs left out when there is no pruning callback to ask.
    """

    def __init__(
        self, p: float = 0.5, q: float = 1.0, every_n_epochs: int = 1, exclude: Sequence[str] = ()
    ) -> None:
        if not 0 < p < q:
            raise ValueError(f"the PQ index needs 0 < p < q, got p={p}, q={q}")
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs={every_n_epochs} must be >= 1")
        self.p, self.q, self.every_n_epochs, self.exclude = p, q, every_n_epochs, tuple(exclude)
        self.last: dict[str, float] = {}

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        """The PQ metrics of the weights as they are now."""
        masked = next((c for c in trainer.callbacks if isinstance(c, MaskedTraining)), None)
        if masked is not None and masked.masks is not None:
            weights, masks = masked.params(pl_module), masked.masks
        else:
            network = pruning_root(pl_module)
            weights = prunable_parameters(network, self.exclude)
            masks = ones_masks(weights)
        return pq_metrics(weights, masks, self.p, self.q)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.last = self.measure(trainer, pl_module)
        for logger in trainer.loggers:
            logger.log_metrics(self.last, step=trainer.global_step)
