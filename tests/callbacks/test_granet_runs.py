"""GraNet in real tiny runs (the CLI path): the exact cubic schedule, regrowth by the gradient of
the current batch, counts kept, zeros that stay zero, the best accuracy reported."""

from __future__ import annotations

import copy
import csv

import pytest
import torch
import torch.nn.functional as F

import prunelab.callbacks
import prunelab.callbacks.granet
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.erk import erk_counts

# 2 epochs of 4 steps, an update every 2 steps: cubic steps 0, 2, 4 (window ends at epoch 1),
# regrowth alone at step 6.
RUN = ("trainer.max_epochs=2", "pruning=granet", "pruning.frequency=2", "pruning.sparsity=0.9")


class Spy(prunelab.callbacks.granet.GraNet):
    """GraNet that records what each update saw and did, and checks the zeros at every batch."""

    last: Spy | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Spy.last = self
        self.records, self.start_counts, self.leaks, self.grad_checks = [], None, 0, 0
        self._snapshot = None

    def on_train_start(self, trainer, pl_module):
        super().on_train_start(trainer, pl_module)
        self.start_counts = {n: int(m.sum()) for n, m in self.masks.items()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
        self.leaks += sum(int((p[~self.masks[n]] != 0).sum()) for n, p in self._params.items())
        if trainer.global_step + 1 in self.updates:  # keep what the batch's gradient comes from
            self._snapshot = (copy.deepcopy(pl_module.network), batch)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        super().on_before_optimizer_step(trainer, pl_module, optimizer)
        if self._grads is not None and self._snapshot is not None:
            network, (x, y) = self._snapshot  # recompute this batch's gradient independently
            F.cross_entropy(network(x), y).backward()
            ref = dict(network.named_parameters())
            for n in self._grads:
                torch.testing.assert_close(self._grads[n], ref[n].grad.abs())
            self._snapshot, self.grad_checks = None, self.grad_checks + 1

    def regrow(self, trainer, pl_module, step, before, report=True):
        pruned = {n: m.clone() for n, m in self.masks.items()}
        weights = {n: p.detach().clone() for n, p in self._params.items()}
        super().regrow(trainer, pl_module, step, before, report)
        self.records.append({
            "step": step,
            "pruned": pruned,
            "after": {n: m.clone() for n, m in self.masks.items()},
            "weights_before": weights,
            "weights_after": {n: p.detach().clone() for n, p in self._params.items()},
            "grads": {n: g.clone() for n, g in self._grads.items()},
            "r": self.regrow_fraction_now,
        })  # fmt: skip


@pytest.fixture
def spy(monkeypatch):
    monkeypatch.setattr(prunelab.callbacks.granet, "GraNet", Spy)
    monkeypatch.setattr(prunelab.callbacks, "GraNet", Spy, raising=False)
    return Spy


def kept(masks):
    return sum(int(m.sum()) for m in masks.values())


@pytest.mark.parametrize("density", [1.0, 0.5])
def test_schedule_regrowth_and_zeros_in_a_real_run(run_prunelab, spy, density):
    overrides = [*RUN, "pruning.end_epoch=1", f"pruning.initial_density={density}"]
    results, run_dir = run_prunelab(overrides)
    cb = spy.last
    n = sum(m.numel() for m in cb.masks.values())
    if density < 1:  # the sparse start: exactly the ERK counts
        shapes = {k: tuple(m.shape) for k, m in cb.masks.items()}
        assert cb.start_counts == erk_counts(shapes, 0.5)
    s_i = 1 - density  # the cubic curve: s_f + (s_i - s_f) * (1 - (t - 0) / (4 - 0))^3
    assert cb.plan == pytest.approx({0: s_i, 2: 0.9 + (s_i - 0.9) * 0.5**3, 4: 0.9})
    assert [r["step"] for r in cb.records] == [2, 4, 6]  # step 6: after the window
    assert cb.grad_checks == 3  # each update used the gradient of its own batch, recomputed
    for rec in cb.records:
        target = cb.plan.get(rec["step"], 0.9)
        assert kept(rec["pruned"]) == keep_total(n, target) == kept(rec["after"])
        for name, after in rec["after"].items():
            pruned = rec["pruned"][name]
            assert int(after.sum()) == int(pruned.sum())  # regrowth keeps the layer's count
            grown, g = after & ~pruned, rec["grads"][name]
            # Regrown by |grad| among the positions inactive after the drop, which include every
            # position left out now (~after): none of those has a larger gradient.
            if grown.any() and not after.all():
                assert g[grown].min() >= g[~after].max()
            assert torch.all(rec["weights_after"][name][grown] == 0)
            # the stashed gradient is dense: pruned weights get one too
            assert (g[~pruned] != 0).any() or bool(pruned.all())
    assert sum(int((r["after"][k] & ~r["pruned"][k]).sum()) for r in cb.records for k in r["after"])
    assert cb.leaks == 0  # pruned weights are exactly zero at every forward pass
    assert kept(cb.masks) == keep_total(n, 0.9)
    assert results["sparsity"] == pytest.approx(1 - keep_total(n, 0.9) / n, abs=0)
    with open(run_dir / "metrics.csv") as f:
        accs = [float(row["val/acc"]) for row in csv.DictReader(f) if row.get("val/acc")]
    assert len(accs) == 2 and cb.summary["best_val/acc"] == max(accs)  # the best, labelled so
    assert cb.records[-1]["r"] < cb.records[0]["r"]
