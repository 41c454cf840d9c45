"""prunelab-stability on a tiny pruned run: identical copies have no barrier and no distance,
the path's ends are the copies' own test errors (Lightning's test loop as the reference), masks
hold in the copies and on the path, and the command writes stability.json or refuses in a line."""

import json
import sys

import matplotlib.image
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from test_wandb_sweep import read_run

from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.export.checkpoint import read_checkpoint, restore_network
from prunelab.module import Classifier
from prunelab.pruning.masks import sparsity
from prunelab.stability import alphas, error_path, interpolate
from prunelab.stability.cli import compose as compose_stability
from prunelab.stability.copies import Length, train_copy
from prunelab.stability.level import level_start, rewind_snapshot
from prunelab.stability.run import stability
from prunelab.train import train

# A ResNet-8 pruned to 80% in 3 steps: a checkpoint with masks and BatchNorm in seconds.
RUN = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=32",
    "logger=none",
    "model.depth=8",
    "pruning=global_magnitude",
    "pruning.sparsity=0.8",
)
QUICK = ("steps=4", "test_batches=3", "points=5")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    train(compose(RUN), run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("bn", ["keep", "recompute"])
def test_identical_copies_have_no_barrier_and_no_distance(ckpt, tmp_path, bn):
    same = ("seeds=[3,3]", f"bn={bn}", "bn_batches=2", f"dense_ckpt={ckpt}")
    cfg = compose_stability([f"ckpt_path={ckpt}", *QUICK, *same])
    results = stability(cfg, tmp_path)
    assert results["barrier"] == 0
    assert results["distance"]["copies"] == 0
    assert len(set(results["errors"])) == 1  # one network at every point
    distance = results["distance"]
    assert distance["a_to_start"] == distance["b_to_start"] > 0
    assert distance["a_to_dense"] == pytest.approx(distance["a_to_start"])  # the start, here
    assert results["sparsity"] == pytest.approx(0.8, abs=1e-4)


def test_path_ends_are_the_copies_test_errors_and_masks_hold(ckpt):
    checkpoint = read_checkpoint(ckpt)
    network = restore_network(checkpoint)
    data = compose(RUN).data
    datamodule = instantiate(data, _convert_="all")
    run = checkpoint.config
    a, b = (
        train_copy(network, checkpoint.masks, datamodule, run, s, Length(steps=3)) for s in (1, 2)
    )
    assert not all(torch.equal(a[n], b[n]) for n in a)  # two data orders, two networks
    for state in (a, b):  # the copies kept the masks ...
        for name, mask in checkpoint.masks.items():
            assert not state[name][~mask].any(), name
    for alpha in alphas(5):  # ... and so does every point between them
        mixed = interpolate(a, b, alpha, checkpoint.masks)
        assert all(not mixed[n][~m].any() for n, m in checkpoint.masks.items()), alpha
    errors = error_path(
        network, a, b, [0.0, 1.0], datamodule.test_dataloader, masks=checkpoint.masks, test_limit=2
    )
    reference = []
    for state in (a, b):  # Lightning's test loop and torchmetrics' accuracy on each copy
        network.load_state_dict(state)
        module = Classifier(network, 10, optim={}, sched={})
        tester = pl.Trainer(
            limit_test_batches=2, logger=False, enable_progress_bar=False,
            enable_model_summary=False, use_distributed_sampler=False,
        )  # fmt: skip
        (tested,) = tester.test(module, datamodule=datamodule, verbose=False)
        reference.append(1 - tested["test/acc"])
    assert errors == pytest.approx(reference, abs=1e-6)


def run_cli(monkeypatch, capsys, *args):
    """`prunelab-stability ARGS` in-process, as test_eval runs prunelab-eval: (status, stderr)."""
    from prunelab.stability.cli import main

    monkeypatch.setattr(sys, "argv", ["prunelab-stability", *args])
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


def test_command_writes_stability_json_and_refuses_in_one_line(ckpt, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    args = (f"ckpt_path={ckpt}", *QUICK, "logger.wandb=true", f"hydra.run.dir={out}")
    status, err = run_cli(monkeypatch, capsys, *args)
    assert status == 0, err
    written = json.loads((out / "stability.json").read_text())
    assert written["alphas"] == [0, 0.25, 0.5, 0.75, 1]
    errors = written["errors"]
    assert written["barrier"] == pytest.approx(max(errors) - (errors[0] + errors[-1]) / 2)
    assert [errors[0], errors[-1]] == written["copy_errors"]  # bn=keep: the copies as trained
    assert written["distance"]["copies"] > 0 and written["seeds"] == [1, 2]
    assert matplotlib.image.imread(out / "stability.png").shape[2] in (3, 4)
    logged = read_run(out)  # the offline W&B run: summary and the path's table
    assert logged["summary"]["stability/barrier"] == written["barrier"]
    assert logged["summary"]["stability/distance/copies"] == written["distance"]["copies"]
    (table,) = (logged["files"] / "media" / "table" / "stability").glob("path_table*.json")
    rows = [list(point) for point in zip(written["alphas"], errors)]
    assert json.loads(table.read_text())["data"] == rows
    good = f"ckpt_path={ckpt}"
    refusals = {  # the arguments, and what the one line must say
        (f"ckpt_path={tmp_path / 'missing.ckpt'}", "steps=2"): "missing.ckpt",
        (good, "steps=2", "epochs=1"): "steps=N or epochs=N, not both",
        (good, "steps=2", "seeds=[1]"): "give two data-order seeds",
        (good, "steps=2", "bn=mean"): "bn=mean is not one of keep, recompute",
        (good, "steps=2", "points=1"): "points=1 must be at least 2",
        (good, "steps=2", "test_batches=all"): "test_batches=all must be an integer",
        ("steps=2",): "ckpt_path=PATH is required",
    }
    for args, message in refusals.items():
        status, err = run_cli(monkeypatch, capsys, *args, f"hydra.run.dir={tmp_path / 'x'}")
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1, (args, err[-2000:])
        assert lines[0].startswith("prunelab-stability: error: ") and message in lines[0], args


@pytest.fixture(scope="module")
def imp_ckpt(tmp_path_factory):
    """An IMP run of 2 levels rewinding to step 1: a rewind snapshot and masks/level<L>.pt."""
    run_dir = tmp_path_factory.mktemp("imp")
    imp = ("pruning=imp", "pruning.levels=2", "pruning.epochs_per_level=1", "pruning.rewind=step:1")
    train(compose([*RUN[1:-2], "trainer.limit_train_batches=2", *imp]), run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def test_level_start_is_the_rewind_snapshot_with_that_levels_masks(imp_ckpt, ckpt, tmp_path):
    final = read_checkpoint(imp_ckpt)
    snapshot = rewind_snapshot(imp_ckpt)
    state, masks = level_start(imp_ckpt, 2)
    assert masks.keys() == final.masks.keys()  # the last level's file = the callback's masks
    assert all(torch.equal(masks[n], final.masks[n]) for n in masks)
    for name, tensor in state.items():
        mask = masks.get(name, torch.ones_like(tensor, dtype=torch.bool))
        assert torch.equal(tensor[mask], snapshot[name][mask]), name
        assert not tensor[~mask].any(), name
    assert not torch.equal(state["fc.weight"], final.state_dict["fc.weight"])  # not the end
    first, first_masks = level_start(imp_ckpt, 1)  # nested: level 1 keeps more weights
    assert all(not first[n][~m].any() for n, m in first_masks.items())
    assert all(not (masks[n] & ~first_masks[n]).any() for n in masks)
    kept = [sum(int(m.sum()) for m in each.values()) for each in (masks, first_masks)]
    assert kept[0] < kept[1]
    args = [f"ckpt_path={imp_ckpt}", "level=2", "steps=2", "points=3", "test_batches=2"]
    results = stability(compose_stability(args), tmp_path)
    assert results["level"] == 2
    assert results["sparsity"] == pytest.approx(sparsity(final.masks))
    with pytest.raises(ConfigError, match="masks/level3.pt does not exist"):
        level_start(imp_ckpt, 3)
    with pytest.raises(ConfigError, match="keeps no rewind point"):
        level_start(ckpt, 1)
