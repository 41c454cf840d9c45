"""Methods from their parts (prunelab.composition): every named method built from the parts its
preset names is today's method, and the same parts on the shared adapters (`PruningMethod`,
`LevelPruning`) train to the same masks at every update and the same final weights."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tiny_lightning import Synthetic, tiny_net
from torch import nn

from prunelab import composition
from prunelab.callbacks import LevelPruning, PruningMethod
from prunelab.config import compose

# preset -> overrides for a seconds-sized run (4 optimizer steps per epoch)
PRESETS = {
    "gmp": ["pruning.sparsity=0.75", "pruning.frequency=2"],
    "global_magnitude": ["pruning.sparsity=0.75", "pruning.prune_at=1"],
    "granet": ["pruning.sparsity=0.75", "pruning.frequency=2", "pruning.seed=0"],
    "granet_s2s": ["pruning.sparsity=0.75", "pruning.frequency=3", "pruning.initial_density=0.5"],
    "imp": ["pruning.levels=2", "pruning.epochs_per_level=1", "pruning.fraction=0.5"],
    "lth": ["pruning.levels=2", "pruning.epochs_per_level=1", "pruning.rewind=step:2"],
    "pq_index": ["pruning.levels=2", "pruning.epochs_per_level=1", "pruning.rewind=lr"],
    "random": ["pruning.sparsity=0.75", "pruning.seed=0"],
    "snip": ["pruning.density=0.25", "pruning.batches=2"],
}


def preset_node(name: str, *overrides: str) -> dict:
    """The resolved `pruning` node of a preset (granet_s2s: GraNet's sparse-to-sparse setting)."""
    cfg = compose([f"pruning={name.removesuffix('_s2s')}", *PRESETS[name], *overrides])
    node = OmegaConf.to_container(cfg.pruning, resolve=True)
    node.pop("name")
    return node


# The flat key GlobalMagnitudePruning's presets had before `pruning/schedule` replaced it.
BEFORE_PARTS = {"gmp": {"schedule": "gradual"}, "global_magnitude": {"schedule": "oneshot"}}


def todays(name: str, node: dict):
    """Today's method: the preset's `_target_` given its flat keys, the parts left out."""
    flat = {k: v for k, v in node.items() if k not in composition.PARTS}
    return instantiate(flat | BEFORE_PARTS.get(name, {}), _convert_="all")


def pieces(callback) -> tuple:
    return (type(callback), callback.rule, callback.schedule, callback.action,
            getattr(callback, "start_rule", None), callback.exclude)  # fmt: skip


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_named_method_built_from_its_parts_is_todays_method(name):
    node = preset_node(name)
    assert pieces(composition.build(dict(node))) == pieces(todays(name, node))


class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.network = tiny_net()

    def forward(self, images):
        return self.network(images)

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "step"}}


class MaskLog(pl.Callback):
    """The pruning callback's masks after every optimizer step (after its update at that step)."""

    def __init__(self, method):
        self.method, self.history = method, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.history.append({n: m.clone() for n, m in self.method.masks.items()})


def fit(method, epochs: int = 3):
    """Masks after every step and the final weights of a tiny seeded run with `method`."""
    pl.seed_everything(0, verbose=False)
    log = MaskLog(method)
    trainer = pl.Trainer(
        max_epochs=method.planned_epochs or epochs, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[method, log], limit_val_batches=0,
    )  # fmt: skip
    module = Module()
    trainer.fit(module, datamodule=Synthetic(batch_size=16))
    return log.history, {n: p.detach().clone() for n, p in module.network.state_dict().items()}


def assert_same_run(a, b):
    (masks_a, weights_a), (masks_b, weights_b) = a, b
    assert len(masks_a) == len(masks_b) > 0
    assert any(not m.all() for m in masks_a[-1].values())  # the run pruned something
    for step_a, step_b in zip(masks_a, masks_b, strict=True):
        assert all(torch.equal(step_a[n], step_b[n]) for n in step_a)
    assert all(torch.equal(weights_a[n], weights_b[n]) for n in weights_a)


# The shared adapters run every part; SNIP's data-scored rule only as SNIPPruning.
ADAPTED = ["gmp", "global_magnitude", "granet", "granet_s2s", "imp", "lth", "pq_index", "random"]


@pytest.mark.parametrize("name", ADAPTED)
def test_the_parts_on_the_shared_adapters_train_as_todays_method(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # level methods save their masks under the run's root
    node = preset_node(name)
    kinds = composition.kinds_of(node)
    common = {k: node[k] for k in composition.COMMON if k in node}
    generic = composition.composed(kinds, node, common)
    assert type(generic) in (PruningMethod, LevelPruning)  # not the named class
    assert_same_run(fit(generic), fit(todays(name, node)))
