"""RandomPruning: random masks at initialization at the exact sparsity, with the allocation's
per-layer counts, reproducible from the seed, kept on resume, and through the command line."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from prunelab.callbacks import RandomPruning
from prunelab.errors import ConfigError
from prunelab.models import resnet20
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.erk import erk_densities
from prunelab.pruning.rules import RandomRule


def start(callback, network):
    """Set up on `network` with a stand-in trainer (one rank) and run the step-0 batch hook."""
    trainer = SimpleNamespace(
        strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj),
        optimizers=[], loggers=[], global_step=0, num_training_batches=4,
        accumulate_grad_batches=1, max_epochs=2,
    )  # fmt: skip
    module = SimpleNamespace(network=network)
    callback.setup(trainer, module, "fit")
    callback.on_fit_start(trainer, module)
    callback.on_train_start(trainer, module)
    assert all(m.all() for m in callback.masks.values())  # dense until the first batch
    callback.on_train_batch_start(trainer, module, None, 0)
    return callback


def counts(masks):
    return {n: int(m.sum()) for n, m in masks.items()}


@pytest.mark.parametrize("allocation", ["layerwise", "global", "erk"])
def test_exact_sparsity_and_the_allocations_per_layer_counts(allocation):
    network = resnet20()
    cb = start(RandomPruning(0.9, allocation=allocation, seed=0), network)
    kept, numel = counts(cb.masks), {n: m.numel() for n, m in cb.masks.items()}
    n = sum(numel.values())
    assert sum(kept.values()) == keep_total(n, 0.9)  # to the weight
    weights = dict(network.named_parameters())
    assert all(int((weights[k] != 0).sum()) == kept[k] for k in kept)  # enforced at once
    if allocation == "layerwise":  # every layer at the target, within rounding
        assert all(abs(kept[k] - 0.1 * numel[k]) < 1 for k in kept)
    if allocation == "erk":
        density = erk_densities({k: tuple(m.shape) for k, m in cb.masks.items()}, 0.1)
        assert all(abs(kept[k] - density[k] * numel[k]) < 1 for k in kept)
    if allocation == "global":  # one draw over all weights: each layer keeps the seeded top
        generator = torch.Generator().manual_seed(0)
        draws = torch.cat(
            [torch.rand(m.shape, generator=generator).flatten() for m in cb.masks.values()]
        )
        top = torch.sort(draws, descending=True, stable=True).indices[: keep_total(n, 0.9)]
        expected = torch.zeros(n, dtype=torch.bool)
        expected[top] = True
        assert torch.equal(torch.cat([m.flatten() for m in cb.masks.values()]), expected)


def test_same_seed_same_masks_other_seed_other_masks():
    a, b, c = (start(RandomPruning(0.8, seed=s), resnet20()) for s in (1, 1, 2))
    assert all(torch.equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert not any(torch.equal(a.masks[k], c.masks[k]) for k in a.masks)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sparsity": 1.0}, r"pruning\.sparsity=1\.0"),
        ({"sparsity": 0.5, "allocation": "uniform"}, r"pruning\.allocation='uniform'"),
        ({"sparsity": 0.5, "seed": "x"}, r"pruning\.seed='x'"),
    ],
)
def test_bad_values_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RandomPruning(**kwargs)


def masks_of(ckpt):
    (state,) = [s for k, s in ckpt["callbacks"].items() if "RandomPruning" in k]
    return state


def test_resume_keeps_the_masks_and_reproduces_the_run(run_prunelab, tmp_path, monkeypatch):
    common = [
        "pruning=random",
        "pruning.sparsity=0.7",
        "trainer.max_epochs=2",
        "sched.name=constant",
    ]
    run_prunelab(common, tmp_path / "whole")
    run_prunelab([*common, "+trainer.max_steps=4"], tmp_path / "part")  # stops after epoch 0
    part = torch.load(tmp_path / "part/checkpoints/last.ckpt", weights_only=True)
    assert part["global_step"] == 4 and masks_of(part)["last_update"] == 0
    ckpt = tmp_path / "part/checkpoints/last.ckpt"

    def redraw(*args, **kwargs):
        raise AssertionError("the masks were drawn again on resume")

    with monkeypatch.context() as patch:  # restored from the checkpoint, never redrawn
        patch.setattr(RandomRule, "masks", redraw)
        run_prunelab([*common, f"ckpt_path={ckpt}"], tmp_path / "resumed")
    a = torch.load(tmp_path / "whole/checkpoints/last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 8
    for name, mask in masks_of(part)["masks"].items():
        assert torch.equal(mask, masks_of(b)["masks"][name])
        assert torch.equal(mask, masks_of(a)["masks"][name])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key


def test_command_line_sparsity_is_exact(run_prunelab):
    results, run_dir = run_prunelab(["pruning=random", "pruning.sparsity=0.9"])
    written = json.loads((run_dir / "results.json").read_text())
    ckpt = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    masks = masks_of(ckpt)["masks"]
    n = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_total(n, 0.9)
    assert written["sparsity"] == results["sparsity"] == (n - keep_total(n, 0.9)) / n
