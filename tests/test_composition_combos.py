"""The two combinations of parts built for issue 20: the PQ-index rule on a schedule that fixes
the sparsity (`PQAllocationRule`), and GraNet's regrowth on IMP's levels. Each reaches its exact
target at every update or level with pruned weights zero throughout; the PQ rule's shares follow
SAP's counts; regrowth keeps the count, changes positions, and regrown weights start at 0."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from test_composition import Module
from tiny_lightning import Synthetic

from prunelab import composition
from prunelab.callbacks import LevelPruning, PruningMethod
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.precheck import check_keys
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.pq_allocation import PQAllocationRule, prune_shares
from prunelab.pruning.pq_index import pq_index, pq_index_rows, sap_prune_count
from prunelab.pruning.schedule import imp_density

N = 8 * 3 * 9 + 8 * 8 * 9 + 8 * 4  # tiny_net's prunable weights: 824


def build(overrides: list[str]):
    node = OmegaConf.to_container(compose(overrides).pruning, resolve=True)
    node.pop("name")
    return composition.build(node)


# -- the split of the schedule's amount ------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "sap", "held", "expected"),
    [
        (10, {"a": 3, "b": 1, "c": 0}, {"a": 100, "b": 100, "c": 100}, {"a": 8, "b": 2, "c": 0}),
        (10, {"a": 3, "b": 1, "c": 0}, {"a": 4, "b": 100, "c": 100}, {"a": 4, "b": 6, "c": 0}),
        (10, {"a": 3, "b": 0, "c": 0}, {"a": 4, "b": 8, "c": 4}, {"a": 4, "b": 4, "c": 2}),
        (6, {"a": 0, "b": 0}, {"a": 4, "b": 8}, {"a": 2, "b": 4}),
        (12, {"a": 5, "b": 1}, {"a": 4, "b": 8}, {"a": 4, "b": 8}),
    ],
)
def test_shares_follow_sap_counts_capped_at_what_a_unit_holds(total, sap, held, expected):
    assert prune_shares(total, sap, held) == expected


def test_an_amount_above_what_the_units_hold_is_refused():
    with pytest.raises(ValueError, match="cannot prune 13 weights from units holding 12"):
        prune_shares(13, {"a": 1, "b": 1}, {"a": 4, "b": 8})


def spread_weights() -> dict[str, torch.Tensor]:
    """`flat`: equal magnitudes (PQ index 0: SAP prunes none); `spiky`: a few large weights among
    small ones (SAP prunes many); `mixed`: rows of each kind (neuron scope)."""
    gen = torch.Generator().manual_seed(0)
    flat = torch.ones(16, 8) * torch.where(torch.rand(16, 8, generator=gen) < 0.5, -1.0, 1.0)
    spiky = torch.rand(16, 8, generator=gen) * 0.01
    spiky[:, 0] = 1.0 + torch.rand(16, generator=gen)
    mixed = torch.cat([flat[:4] * 0.5, spiky[:4]])
    return {"flat": flat, "spiky": spiky, "mixed": mixed}


def sap_cut(w: torch.Tensor, mask: torch.Tensor) -> int:
    d = int(mask.sum())
    return sap_prune_count(d, pq_index(w, 0.5, 1.0, mask))


def test_layer_scope_splits_the_amount_by_the_pq_bound():
    params = spread_weights()
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in params.items()}
    total = sum(m.numel() for m in masks.values())
    sap = {n: sap_cut(params[n], masks[n]) for n in params}
    assert sap["flat"] == 0 < sap["mixed"] < sap["spiky"]  # the weights do what they should
    for sparsity in (0.2, 0.4):
        new = PQAllocationRule(scope="layer").masks(params, masks, sparsity)
        cut = {n: int((~new[n]).sum()) for n in new}
        assert sum(int(m.sum()) for m in new.values()) == keep_total(total, sparsity)
        assert cut["flat"] == 0  # a unit SAP would not prune keeps everything
        exact = sum(cut.values()) * sap["spiky"] / (sap["spiky"] + sap["mixed"])
        assert abs(cut["spiky"] - exact) < 1  # the others' shares follow SAP's counts
        for n, w in params.items():  # within a unit the smallest |w| go
            if cut[n]:
                assert w[new[n]].abs().min() >= w[~new[n]].abs().max()


def test_neuron_scope_spares_rows_sap_would_not_prune_and_prunes_only_active_weights():
    params = spread_weights()
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in params.items()}
    masks["spiky"][0, 1:] = False  # already pruned: stays pruned, and counts as pruned
    rows = pq_index_rows(params["mixed"], masks["mixed"])
    assert (rows[:4] == 0).all() and (rows[4:] > 0).all()
    new = PQAllocationRule(scope="neuron").masks(params, masks, 0.4)
    assert sum(int(m.sum()) for m in new.values()) == keep_total(128 + 128 + 64, 0.4)
    assert not (new["spiky"] & ~masks["spiky"]).any()
    kept_rows = new["mixed"].sum(1)
    assert (kept_rows[:4] == 8).all() and (kept_rows[4:] < 8).all()
    assert new["flat"].all()


def test_the_global_scope_is_refused_on_a_step_schedule_and_layer_is_its_default():
    with pytest.raises(ValueError, match="global unit leaves it nothing to split"):
        PQAllocationRule(scope="global")
    with pytest.raises(ValueError, match="pruning.rule.scope=layer or neuron"):
        build(["pruning=gmp", "pruning/rule=pq_index", "pruning.rule.scope=global"])
    assert build(["pruning=gmp", "pruning/rule=pq_index"]).rule.scope == "layer"
    assert build(["pruning=imp", "pruning/rule=pq_index"]).rule.scope == "global"  # SAP's


# -- the combinations, trained ---------------------------------------------------------------------
class Watch(pl.Callback):
    """Before every batch (after the method's update): the masks and weights, and that pruned
    weights are 0; after every batch: the weights (the last of a level: its end-of-level ones)."""

    def __init__(self, method):
        self.method, self.history, self.starts, self.ends = method, [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        masks = {n: m.clone() for n, m in self.method.masks.items()}
        weights = {n: p.detach().clone() for n, p in pl_module.network.named_parameters()}
        for name, mask in masks.items():
            assert (weights[name][~mask] == 0).all(), (trainer.global_step, name)
        self.history.append(masks)
        self.starts.append(weights)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.ends.append({n: p.detach().clone() for n, p in pl_module.network.named_parameters()})


def run(method, watch: Watch, epochs: int = 3) -> Watch:
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(
        max_epochs=method.planned_epochs or epochs, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[method, watch], limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(Module(), datamodule=Synthetic(batch_size=16))
    return watch


def kept(masks) -> int:
    return sum(int(m.sum()) for m in masks.values())


STEP_COMBOS = {
    "pq_index rule, cubic, layer scope": (
        ["pruning=gmp", "pruning/rule=pq_index", "pruning.rule.scope=layer"]
        + ["pruning.sparsity=0.75", "pruning.frequency=2"]
    ),
    "pq_index rule, one_shot, neuron scope": (
        ["pruning=global_magnitude", "pruning/rule=pq_index", "pruning.rule.scope=neuron"]
        + ["pruning.sparsity=0.6", "pruning.prune_at=1"]
    ),
    "pq_index rule, cubic, regrowth": (
        ["pruning=granet", "pruning/rule=pq_index", "pruning.rule.scope=layer"]
        + ["pruning.sparsity=0.75", "pruning.frequency=3"]
    ),
}


@pytest.mark.parametrize("name", sorted(STEP_COMBOS))
def test_the_pq_rule_on_a_step_schedule_reaches_every_target_exactly(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    method = build(STEP_COMBOS[name])
    assert type(method) is PruningMethod and isinstance(method.rule, PQAllocationRule)
    history = run(method, Watch(method)).history
    assert len(method.plan) >= 1 and max(method.plan.values()) > 0.5
    for step, target in method.plan.items():  # the update at `step` ran before batch `step`
        assert kept(history[step]) == keep_total(N, target), (step, target)
    assert kept(method.masks) == keep_total(N, method.schedule.final)


def test_regrowth_on_levels_keeps_each_level_exact_and_moves_positions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    overrides = ["pruning=imp", "pruning/after=regrow", "pruning.levels=2"]
    method = build([*overrides, "pruning.epochs_per_level=1", "pruning.fraction=0.5"])
    assert type(method) is LevelPruning and method.regrow is not None
    assert method.rewind_spec() == "lr"  # imp.yaml's flat key `rewind`
    watch = run(method, Watch(method))  # 4 steps per level
    levels = [watch.history[4 * level] for level in range(3)]
    for level, masks in enumerate(levels):
        assert kept(masks) == keep_total(N, 1 - imp_density(level, 0.5)), level
    for level in (1, 2):  # against the rule alone, from the same end-of-level weights
        start = 4 * level
        pruned = method.rule.masks(watch.ends[start - 1], watch.history[start - 1], level)
        grown = {n: levels[level][n] & ~pruned[n] for n in pruned}
        assert sum(int(g.sum()) for g in grown.values()) > 0, level  # positions changed
        for name, g in grown.items():  # regrown weights start at 0 (LR rewinding keeps weights)
            assert (watch.starts[start][name][g] == 0).all(), (level, name)
    # IMP's levels nest; regrowth brings back positions the previous level had pruned.
    assert any((levels[2][n] & ~levels[1][n]).any() for n in levels[2])
    assert method.regrow.regrown_total > 0


def test_regrow_takes_its_rewind_from_to_or_the_flat_key():
    assert build(["pruning=lth", "pruning/after=regrow"]).rewind_spec() == "init"
    on_pq = build(["pruning=pq_index", "pruning/after=regrow", "pruning.after.to=step:2"])
    assert type(on_pq) is LevelPruning and on_pq.rewind_spec() == "step:2"
    with pytest.raises(ValueError, match="after.to=lr rewinds between levels"):
        build(["pruning=granet", "pruning.after.to=lr"])
    with pytest.raises(ConfigError, match="masks_from replays an earlier run's masks"):
        build(["pruning=imp", "pruning/after=regrow", f"pruning.masks_from={__file__}"])


def test_regrowth_after_a_one_shot_is_still_refused_naming_both_parts():
    with pytest.raises(ConfigError) as refused:
        check_keys(["pruning=global_magnitude", "pruning/after=regrow"])
    assert "pruning/after=regrow does not combine with pruning/schedule=one_shot" in str(
        refused.value
    )
    check_keys(["pruning=gmp", "pruning/rule=pq_index"])  # no longer a conflict
    check_keys(["pruning=imp", "pruning/after=regrow"])
