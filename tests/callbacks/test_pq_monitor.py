"""PQIndexMonitor beside any method: it reads the pruning callback's masks, or every weight."""

import csv

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from tiny_lightning import Synthetic
from torch import nn

from prunelab.callbacks.imp import IterativeMagnitudePruning
from prunelab.callbacks.pq_monitor import PQIndexMonitor
from prunelab.module import Classifier


def closed_form(values: torch.Tensor) -> float:
    """I for (p, q) = (0.5, 1): 1 - mean(sqrt|w|)^2 / mean|w|."""
    a = values.double().abs()
    return float(1 - a.sqrt().mean() ** 2 / a.mean())


def fit(root, *callbacks, epochs):
    pl.seed_everything(0, verbose=False)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip
    module = Classifier(net, 4, {"name": "sgd", "lr": 0.1}, {"name": "constant"})
    pl.Trainer(
        max_epochs=epochs, callbacks=list(callbacks), logger=CSVLogger(root, name="", version=""),
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, accelerator="cpu", num_sanity_val_steps=0,
    ).fit(module, datamodule=Synthetic(batch_size=16))  # fmt: skip
    with open(root / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("prune/pq_index")]
    return module.network, rows


def test_watches_the_unpruned_weights_of_a_pruning_method(tmp_path):
    imp = IterativeMagnitudePruning(2, 1, fraction=0.5, exclude=["5.weight"], plot=False)
    monitor = PQIndexMonitor()
    net, rows = fit(tmp_path, imp, monitor, epochs=imp.planned_epochs)
    assert len(rows) == 3  # one per epoch
    mask = imp.masks["0.weight"]
    assert int(mask.sum()) == round(0.25 * mask.numel())
    expected = closed_form(net[0].weight.detach()[mask])  # the only prunable tensor
    assert monitor.last["prune/pq_index"] == pytest.approx(expected, abs=1e-12)
    assert monitor.last["prune/pq_index/0.weight"] == pytest.approx(expected, abs=1e-12)
    assert set(monitor.last) == {"prune/pq_index", "prune/pq_index/0.weight"}  # fc excluded
    assert float(rows[-1]["prune/pq_index"]) == pytest.approx(expected, abs=1e-6)


def test_without_pruning_every_weight_counts_every_n_epochs(tmp_path):
    monitor = PQIndexMonitor(every_n_epochs=2)
    net, rows = fit(tmp_path, monitor, epochs=4)
    assert len(rows) == 2  # after epochs 1 and 3
    weights = torch.cat([net[0].weight.detach().flatten(), net[5].weight.detach().flatten()])
    assert monitor.last["prune/pq_index"] == pytest.approx(closed_form(weights), abs=1e-12)
    layer = closed_form(net[5].weight.detach().flatten())
    assert monitor.last["prune/pq_index/5.weight"] == pytest.approx(layer, abs=1e-12)


def test_refuses_bad_norms():
    with pytest.raises(ValueError, match="0 < p < q"):
        PQIndexMonitor(p=2.0, q=1.0)
