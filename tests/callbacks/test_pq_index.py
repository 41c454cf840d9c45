"""SAP (pruning=pq_index): the counts each scope implies, the loop it shares with IMP, resume.

The PQ index itself and `sap_keep` / `sap_prune_count` are tested in tests/pruning; here the
closed forms are recomputed by hand at the scope level, from plain Python sums.
"""

import math
from fractions import Fraction

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from tiny_lightning import Synthetic
from torch import nn

from prunelab.callbacks.pq_index import PQIndexPruning
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.module import Classifier
from prunelab.pruning.sap import network_pq_index, sap_counts


def closed_keep(values, p, q):
    """SAP's kept count from the closed forms (eta = 0): (0.5, 1) and (1, 2) only."""
    a = [abs(v) for v in values]
    if (p, q) == (0.5, 1.0):
        r = sum(math.sqrt(x) for x in a) ** 2 / sum(a)
    else:
        r = sum(a) ** 2 / sum(x * x for x in a)
    d = len(a)  # the clamp in exact rationals: d * (1 - r/d) is an integer, no float noise
    return d - math.floor(d * min(max(1 - Fraction(math.ceil(r), d), 0), Fraction(9, 10)))


def hand_built():
    """Two layers with some entries already pruned (their values must not count)."""
    gen = torch.Generator().manual_seed(5)
    weights = {
        "conv.weight": torch.randn(3, 2, 2, 2, generator=gen) ** 3,
        "fc.weight": torch.randn(4, 12, generator=gen),
    }
    masks = {n: torch.rand(w.shape, generator=gen) < 0.8 for n, w in weights.items()}
    weights["fc.weight"][~masks["fc.weight"]] = 1e3  # a pruned position holding junk
    weights["conv.weight"][0] = 1e-3  # one near-constant neuron: nothing to prune there
    weights["conv.weight"][0, 0, 0, 0] = 1.0
    return weights, masks


@pytest.mark.parametrize(("p", "q"), [(0.5, 1.0), (1.0, 2.0)])
def test_each_scope_keeps_what_its_definition_implies(p, q):
    weights, masks = hand_built()
    active = {n: weights[n][masks[n]].tolist() for n in masks}
    layer = sap_counts(weights, masks, "layer", p, q)
    assert layer == {n: closed_keep(v, p, q) for n, v in active.items()}
    neuron = sap_counts(weights, masks, "neuron", p, q)
    for name, w in weights.items():
        rows = [w.flatten(1)[i][masks[name].flatten(1)[i]].tolist() for i in range(w.shape[0])]
        assert neuron[name] == [closed_keep(r, p, q) for r in rows]
    # global: one count over all unpruned weights, kept by one magnitude order across layers
    everything = [(abs(v), n) for n, vs in active.items() for v in vs]
    keep = closed_keep([v for v, _ in everything], p, q)
    top = sorted(everything, key=lambda t: -t[0])[:keep]
    assert sap_counts(weights, masks, "global", p, q) == {
        n: sum(1 for _, m in top if m == n) for n in masks
    }


def test_one_round_prunes_at_most_beta():
    w = torch.full((1, 1000), 1e-4)
    w[0, 0] = 10.0  # nearly one-hot: r = 1 or 2, so 1 - r/d is far above beta
    masks = {"w": torch.ones_like(w, dtype=torch.bool)}
    for p, q in [(0.5, 1.0), (1.0, 2.0)]:
        for scope in ("global", "layer"):
            assert sap_counts({"w": w}, masks, scope, p, q) == {"w": 1000 - 900}
        assert sap_counts({"w": w}, masks, "layer", p, q, beta=0.5) == {"w": 500}
        assert sap_counts({"w": w}, masks, "neuron", p, q) == {"w": [100]}


@pytest.mark.parametrize(
    ("args", "match"),
    [({"p": 1.0, "q": 1.0}, "0 < p < q"), ({"eta": -1}, "eta"), ({"beta": 0}, "beta"),
     ({"gamma": 0}, "gamma"), ({"scope": "row"}, "global, layer, neuron")],
)  # fmt: skip
def test_bad_values_are_refused(args, match):
    with pytest.raises(ConfigError, match=match):
        PQIndexPruning(levels=2, epochs_per_level=1, **args)


def test_configs():
    default, variant = (
        compose(["pruning=pq_index"]).pruning,
        compose(["pruning=pq_index_12"]).pruning,
    )
    assert (default.p, default.q, default.eta, default.gamma) == (0.5, 1.0, 0.0, 1.0)
    assert (variant.p, variant.q, variant.eta, variant.gamma) == (1.0, 2.0, 0.0, 1.0)
    assert default.rewind == variant.rewind == "init" and default.scope == "global"
    cfg = compose(["experiment=sap_resnet20_cifar10"])
    assert cfg.optim.nesterov and cfg.optim.weight_decay == 5e-4 and cfg.sched.name == "cosine"
    assert cfg.data.batch_size == 250 and cfg.trainer.gradient_clip_val == 1.0
    assert cfg.pruning.epochs_per_level == 200 and cfg.pruning.levels == 15
    assert compose(["experiment=sap_resnet20_cifar10_mini"]).data.batch_size == 250


class Boundaries(pl.Callback):
    """The end-of-level weights and the masks right after each level boundary."""

    def __init__(self):
        self.ends, self.starts = [], []

    def on_train_epoch_end(self, trainer, pl_module):
        weights = {n: p.detach().clone() for n, p in pl_module.network.named_parameters()}
        self.ends.append((weights, {n: m.clone() for n, m in trainer.callbacks[0].masks.items()}))

    def on_train_epoch_start(self, trainer, pl_module):
        self.starts.append({n: m.clone() for n, m in trainer.callbacks[0].masks.items()})


def fit(root, scope="global", resume=None, init_seed=0, levels=3, epochs=1):
    pl.seed_everything(init_seed, verbose=False)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip
    module = Classifier(net, 4, {"name": "sgd", "lr": 0.1, "nesterov": True}, {"name": "cosine"})
    sap = PQIndexPruning(levels, epochs, scope=scope, plot=False)
    probe = Boundaries()
    trainer = pl.Trainer(
        max_epochs=sap.planned_epochs, logger=CSVLogger(root, name="", version=""),
        callbacks=[sap, probe, ModelCheckpoint(dirpath=root / "ckpt", save_top_k=-1)],
        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
        accelerator="cpu", num_sanity_val_steps=0, gradient_clip_val=1.0,
    )  # fmt: skip
    trainer.fit(module, datamodule=Synthetic(batch_size=16), ckpt_path=resume)
    return sap, probe, module


@pytest.mark.parametrize("scope", ["global", "layer", "neuron"])
def test_each_level_prunes_the_sap_count_of_its_end_weights(tmp_path, scope):
    sap, probe, _ = fit(tmp_path, scope)
    sparsities = [s["sparsity"] for s in sap.stages]
    assert sparsities == sorted(set(sparsities))  # strictly increasing: the rule kept pruning
    for level in range(1, 4):
        weights, old = probe.ends[level - 1]
        new = probe.starts[level]
        assert all(not bool((new[n] & ~old[n]).any()) for n in old)  # masks only shrink
        expected = sap_counts({n: weights[n] for n in old}, old, scope)
        if scope == "neuron":
            got = {n: m.flatten(1).sum(1).tolist() for n, m in new.items()}
        else:
            got = {n: int(m.sum()) for n, m in new.items()}
        assert got == expected
        pq = network_pq_index({n: weights[n] for n in old}, old, 0.5, 1.0)
        assert sap.stages[level - 1]["pq_index"] == pytest.approx(pq, abs=1e-12)
    logged = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"prune/pq_index", "prune/pq_index/0.weight", "level/pq_index"} <= set(logged)


def test_resume_mid_level_equals_uninterrupted(tmp_path):
    whole_sap, _, whole = fit(tmp_path / "whole", "neuron", levels=2, epochs=2)
    (saved,) = (tmp_path / "whole" / "ckpt").glob("epoch=2-*.ckpt")  # inside level 1
    sap, _, resumed = fit(tmp_path / "resumed", "neuron", saved, init_seed=9, levels=2, epochs=2)
    expected = whole.network.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in resumed.network.state_dict().items())
    assert all(torch.equal(m, whole_sap.masks[n]) for n, m in sap.masks.items())
    assert sap.stages == whole_sap.stages and len(sap.stages) == 3
