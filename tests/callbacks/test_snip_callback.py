"""SNIP pruning at initialization: the masks are exactly SNIP's global top-K on the first training
batches, taken before any optimizer step, at the exact target density."""

from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch

from prunelab.callbacks.snip import SNIPPruning, training_batches
from prunelab.data import MiniCIFAR10DataModule
from prunelab.errors import ConfigError
from prunelab.models import CifarResNet
from prunelab.module import Classifier
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.layer_densities import snip_scores
from prunelab.pruning.selection import top_k_mask
from prunelab.pruning.targets import prunable_parameters


class Probe(pl.Callback):
    """Keeps a copy of the network as fit starts: listed before SNIPPruning, so it runs first."""

    def on_fit_start(self, trainer, pl_module):
        self.network = copy.deepcopy(pl_module.network)


def test_masks_are_the_global_top_k_of_snip_scores_on_the_first_batches(tmp_path):
    torch.manual_seed(0)
    module = Classifier(
        CifarResNet(8, 10),
        10,
        optim={"name": "sgd", "lr": 0.1},
        sched={"name": "multistep", "milestones": [0.5], "gamma": 0.1},
    )
    probe, snip = Probe(), SNIPPruning(density=0.2, batches=2, exclude=["fc.weight"], plot=False)
    trainer = pl.Trainer(
        max_steps=2,
        limit_val_batches=0,
        logger=False,
        callbacks=[probe, snip],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    datamodule = MiniCIFAR10DataModule(batch_size=16)
    trainer.fit(module, datamodule=datamodule)

    scores = snip_scores(probe.network, snip.masks, training_batches(trainer, 2))
    names = list(snip.masks)
    flat = torch.cat([scores[n].flatten() for n in names])
    kept = top_k_mask(flat, keep_total(flat.numel(), 0.8))
    expected = dict(zip(names, torch.split(kept, [scores[n].numel() for n in names]), strict=True))
    for name in names:
        assert torch.equal(snip.masks[name].cpu().flatten(), expected[name]), name
    assert "fc.weight" not in snip.masks
    # Pruned weights are zero after training steps; the excluded classifier is dense.
    params = dict(module.network.named_parameters())
    assert all(torch.count_nonzero(params[n].detach()[~snip.masks[n]]) == 0 for n in names)
    assert torch.count_nonzero(params["fc.weight"]) == params["fc.weight"].numel()


def test_run_reaches_the_exact_density(run_prunelab):
    results, _ = run_prunelab(["pruning=snip", "pruning.density=0.2", "pruning.batches=1"])
    n = sum(p.numel() for p in prunable_parameters(CifarResNet(20, 10, "B")).values())
    assert results["sparsity"] == pytest.approx(1 - keep_total(n, 0.8) / n, abs=1e-12)
    assert results["params/total"] - results["params/nonzero"] == n - keep_total(n, 0.8)


@pytest.mark.parametrize("density", [0.0, -1, 1.2, "0.5"])
def test_bad_density_is_refused(density):
    with pytest.raises(ConfigError, match="density"):
        SNIPPruning(density=density)
