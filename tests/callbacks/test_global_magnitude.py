"""GlobalMagnitudePruning through real runs: exact sparsity for every allocation, agreement with
torch.nn.utils.prune, the one-shot and gradual (cubic) schedules keyed on optimizer steps, and
starting from a trained checkpoint."""

from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch
from torch.nn.utils import prune

from prunelab.callbacks import GlobalMagnitudePruning
from prunelab.models import CifarResNet
from prunelab.module import Classifier
from prunelab.pruning.erk import erk_counts, erk_densities
from prunelab.pruning.schedule import cubic_schedule

# Accuracy is not under test: small batches, no validation, no test pass.
FAST = ("data.batch_size=8", "trainer.limit_val_batches=0", "test_after_fit=false")


def last_ckpt(run_dir, masks=True):
    """(network weights, masks, the checkpoint) of a run's last.ckpt."""
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    weights = {k.removeprefix("network."): v for k, v in ckpt["state_dict"].items()}
    if not masks:
        return weights, None, ckpt
    (state,) = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "masks" in s]
    return weights, state["masks"], ckpt


def kept_for(n: int, sparsity: float) -> int:
    return round((1 - sparsity) * n)  # the one rounding rule: keep_total


@pytest.fixture
def updates(monkeypatch):
    """Every mask change of a run: (global_step, batch_idx, epoch, masks), and zero checks."""
    log: list[dict] = []
    original = GlobalMagnitudePruning.set_masks
    end = GlobalMagnitudePruning.on_train_batch_end

    def set_masks(self, trainer, pl_module, masks, **kwargs):
        original(self, trainer, pl_module, masks, **kwargs)
        batch = trainer.fit_loop.epoch_loop.batch_idx  # the batch about to run
        entry = {"step": trainer.global_step, "batch": batch, "epoch": trainer.current_epoch}
        log.append({**entry, "masks": {n: m.clone() for n, m in self.masks.items()}})

    def on_end(self, trainer, pl_module, outputs, batch, batch_idx):
        end(self, trainer, pl_module, outputs, batch, batch_idx)
        for name, mask in self.masks.items():  # zeros hold after every optimizer step
            assert torch.count_nonzero(self._params[name].detach()[~mask]) == 0, name

    monkeypatch.setattr(GlobalMagnitudePruning, "set_masks", set_masks)
    monkeypatch.setattr(GlobalMagnitudePruning, "on_train_batch_end", on_end)
    return log


@pytest.mark.parametrize(
    "allocation", [["global"], ["layerwise"], ["erk"], ["global", "pruning.min_threshold=0.05"]]
)
def test_achieved_sparsity_is_exact_for_every_allocation(run_prunelab, allocation):
    name, *extra = allocation
    results, run_dir = run_prunelab(
        ["pruning=global_magnitude", "pruning.sparsity=0.98", f"pruning.allocation={name}"]
        + [*extra, *FAST]
    )
    weights, masks, _ = last_ckpt(run_dir)
    n = sum(m.numel() for m in masks.values())
    kept = {k: int(m.sum()) for k, m in masks.items()}
    assert sum(kept.values()) == kept_for(n, 0.98)
    assert results["sparsity"] == (n - kept_for(n, 0.98)) / n  # measured zeros, to the weight
    assert all(torch.count_nonzero(weights[k]) == kept[k] for k in masks)
    if name == "layerwise":  # the same sparsity in every layer, up to one weight of rounding
        assert all(abs(kept[k] - 0.02 * m.numel()) < 1 for k, m in masks.items())
    if name == "erk":
        density = erk_densities({k: tuple(m.shape) for k, m in masks.items()}, 0.02)
        assert all(abs(kept[k] - density[k] * m.numel()) < 1 for k, m in masks.items())
    minimum = n * 5 // 10000  # MT's M: 0.05% of all prunable weights
    if extra:  # no layer under M, where plain global leaves layer3 far below it
        assert min(kept.values()) >= minimum
    else:
        assert name != "global" or min(kept.values()) < minimum


def attached(network, **kwargs):
    """A GlobalMagnitudePruning set up on `network` outside a fit (no data, no steps)."""
    module = Classifier(network, 10, {"name": "sgd", "lr": 0.1}, {"name": "constant"})
    trainer = pl.Trainer(logger=False, accelerator="cpu", enable_checkpointing=False, max_epochs=1)
    callback = GlobalMagnitudePruning(**kwargs)
    callback.setup(trainer, module, "fit")
    callback.on_fit_start(trainer, module)
    return callback, trainer, module


def torch_masks(network, names, amount: int):
    """torch's global L1 pruning of `amount` more weights over the named weights, as bool masks."""
    modules = dict(network.named_modules())
    targets = [(modules[n.removesuffix(".weight")], "weight") for n in names]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    return {n: m.weight_mask.bool() for n, (m, _) in zip(names, targets)}


@pytest.mark.parametrize("exclude", [[], ["fc.weight", "conv1.weight"]])
def test_masks_agree_with_torch_global_l1_unstructured(exclude):
    torch.manual_seed(0)
    network = CifarResNet(depth=20, num_classes=10)
    reference = copy.deepcopy(network)
    callback, trainer, module = attached(network, sparsity=0.9, exclude=exclude)
    names = list(callback.masks)
    assert not set(exclude) & set(names)
    n = sum(m.numel() for m in callback.masks.values())
    kept = n
    for target in (0.5, 0.9, 0.97):  # a second and third round prune among the survivors
        callback.prune_to(trainer, module, target)
        expected = torch_masks(reference, names, kept - kept_for(n, target))
        kept = kept_for(n, target)
        assert all(torch.equal(callback.masks[k], expected[k]) for k in names), target


def test_gradual_erk_survives_rounding_that_is_not_monotone():
    """ERK's per-layer counts can rise by one weight between two close sparsities (largest
    remainder rounding); the masks must still only shrink and hit the total exactly."""
    torch.manual_seed(0)
    callback, trainer, module = attached(CifarResNet(depth=20, num_classes=10), sparsity=0.95)
    callback.allocation = "erk"
    shapes = {k: tuple(m.shape) for k, m in callback.masks.items()}
    plan = cubic_schedule(0, 1000, 1, 0.0, 0.95)
    before, after = erk_counts(shapes, plan[861]), erk_counts(shapes, plan[862])
    assert any(after[k] > before[k] for k in shapes)  # the case under test
    n = sum(m.numel() for m in callback.masks.values())
    callback.prune_to(trainer, module, plan[861])
    previous = {k: m.clone() for k, m in callback.masks.items()}
    callback.prune_to(trainer, module, plan[862])
    assert sum(int(m.sum()) for m in callback.masks.values()) == kept_for(n, plan[862])
    assert all(not (m & ~previous[k]).any() for k, m in callback.masks.items())
    assert sum(abs(int(m.sum()) - after[k]) for k, m in callback.masks.items()) <= 2


@pytest.mark.parametrize("accumulate", [1, 2])
def test_gradual_follows_the_cubic_formula_and_only_shrinks(run_prunelab, updates, accumulate):
    """Updates every `frequency` optimizer steps from start_epoch; the last one hits s_f exactly;
    under gradient accumulation the schedule counts optimizer steps, not batches."""
    _, run_dir = run_prunelab(
        ["pruning=gmp", "pruning.sparsity=0.9", "pruning.initial_sparsity=0.2"]
        + ["pruning.start_epoch=1", "pruning.end_epoch=3", "pruning.frequency=3"]
        + ["trainer.max_epochs=3", f"trainer.accumulate_grad_batches={accumulate}"]
        + [f"trainer.limit_train_batches={4 * accumulate}", *FAST]  # 4 optimizer steps/epoch
    )
    # Steps 4 .. 12 (epochs 1-2) every 3: 4, 7, 10; the curve ends on the last update, 10.
    assert [u["step"] for u in updates] == [4, 7, 10]
    # Each update comes before the first batch of its optimizer step's accumulation window.
    assert [(u["epoch"], u["batch"]) for u in updates] == [
        (s // 4, (s % 4) * accumulate) for s in (4, 7, 10)
    ]
    n = sum(m.numel() for m in updates[0]["masks"].values())
    previous = None
    for u in updates:
        target = 0.9 + (0.2 - 0.9) * (1 - (u["step"] - 4) / (10 - 4)) ** 3
        kept = sum(int(m.sum()) for m in u["masks"].values())
        assert kept == kept_for(n, target), u["step"]
        if previous is not None:  # masks only shrink
            assert all(not (m & ~previous[k]).any() for k, m in u["masks"].items())
        previous = u["masks"]
    assert kept == kept_for(n, 0.9)  # s_f exactly, at the last update
    _, final, ckpt = last_ckpt(run_dir)
    assert ckpt["global_step"] == 12
    assert all(torch.equal(final[k], previous[k]) for k in final)  # nothing changed after


def test_oneshot_prunes_at_the_start_of_epoch_prune_at_then_trains_on(run_prunelab, updates):
    _, run_dir = run_prunelab(
        ["pruning=global_magnitude", "pruning.sparsity=0.9", "pruning.prune_at=1"]
        + ["trainer.max_epochs=3", "data.batch_size=8", "trainer.limit_val_batches=0"]
    )
    assert [(u["step"], u["epoch"]) for u in updates] == [(4, 1)]
    weights, masks, ckpt = last_ckpt(run_dir)
    assert ckpt["global_step"] == 12  # fine-tuned on to max_epochs: 3 epochs x 4 steps
    assert all(torch.equal(masks[k], updates[0]["masks"][k]) for k in masks)
    metrics = (run_dir / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    rows = [r.split(",") for r in metrics[1:]]
    logged = [r for r in rows if r[header.index("prune/sparsity")]]
    assert len(logged) == 1 and float(logged[0][header.index("step")]) == 4


def test_oneshot_from_a_trained_checkpoint(run_prunelab, updates, tmp_path):
    """`model.init_from`: the masks are global magnitude of the loaded weights, then fine-tuned."""
    _, dense_dir = run_prunelab(["pruning=none", *FAST], tmp_path / "dense")
    ckpt = dense_dir / "checkpoints" / "last.ckpt"
    trained, _, _ = last_ckpt(dense_dir, masks=False)
    network = CifarResNet(depth=20, num_classes=10)
    network.load_state_dict(trained)
    run_dir = tmp_path / "sparse"
    run_prunelab(
        ["pruning=global_magnitude", "pruning.sparsity=0.8", f"model.init_from={ckpt}", *FAST],
        run_dir,
    )
    (update,) = updates
    assert update["step"] == 0
    names = list(update["masks"])
    n = sum(m.numel() for m in update["masks"].values())
    expected = torch_masks(network, names, n - kept_for(n, 0.8))
    assert all(torch.equal(update["masks"][k], expected[k]) for k in names)
    weights, _, _ = last_ckpt(run_dir)
    assert all(not torch.equal(weights[k], trained[k]) for k in names)  # fine-tuned from there
