"""prunelab-eval: a checkpoint tested again gives its run's figures; bad files are refused."""

import json
import os
import pickle
import sys

import pytest
import torch
from omegaconf import OmegaConf

from prunelab.config import compose
from prunelab.export.checkpoint import (
    CheckpointError,
    read_checkpoint,
    restore_network,
)
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.evaluate import eval_run_config, evaluate
from prunelab.train import train

# One short pruned run (as tests/conftest.py's TINY) tested on 300 images: 3 classes, as the test
# split is sorted by class, so the accuracy to reproduce is not a trivial 0 or 1.
RUN = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=3",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=100",
    "logger=none",
    "pruning=global_magnitude",
    "pruning.sparsity=0.9",
)
COMPARED = ("test/acc", "test/loss", "sparsity", "params/total", "params/nonzero", "macs/nonzero")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(results, last.ckpt) of one tiny pruned run, shared by the module's tests."""
    run_dir = tmp_path_factory.mktemp("run")
    results = train(compose(RUN), run_dir)
    return results, run_dir / "checkpoints" / "last.ckpt"


@torch.no_grad()
def plain_metrics(network, batch_size, batches=None):
    """(top-1 accuracy, mean cross-entropy) on the mini test split by a loop of its own."""
    from prunelab.data import MiniCIFAR10DataModule

    data = MiniCIFAR10DataModule(batch_size=batch_size)
    data.setup("test")
    correct = seen = 0
    loss = 0.0
    for i, (x, y) in enumerate(data.test_dataloader()):
        if batches is not None and i == batches:
            break
        logits = network(x)
        correct += int((logits.argmax(1) == y).sum())
        loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
        seen += len(y)
    return correct / seen, loss / seen


def test_eval_reproduces_the_runs_test_figures_exactly(trained, tmp_path):
    results, ckpt = trained
    evaluated = evaluate(compose_command("eval", [f"ckpt_path={ckpt}"]), tmp_path)
    for key in COMPARED:
        assert evaluated[key] == results[key], key
    assert results["sparsity"] == pytest.approx(0.9, abs=1e-5)
    written = json.loads((tmp_path / "eval.json").read_text())
    assert {k: written[k] for k in COMPARED} == {k: results[k] for k in COMPARED}
    assert written["ckpt_path"] == str(ckpt)


def test_overrides_change_exactly_what_they_name(trained, tmp_path):
    _, ckpt = trained
    cfg = compose_command(
        "eval", [f"ckpt_path={ckpt}", "data.batch_size=50", "trainer.limit_test_batches=4"]
    )
    evaluated = evaluate(cfg, tmp_path)
    network = restore_network(read_checkpoint(ckpt))
    acc, loss = plain_metrics(network, 50, batches=4)
    # Lightning reports float32 means: one image is 1/200, far above their rounding.
    assert evaluated["test/acc"] == pytest.approx(acc, abs=1e-6)
    assert evaluated["test/loss"] == pytest.approx(loss, rel=1e-5)
    run = eval_run_config(cfg, read_checkpoint(ckpt))
    stored = read_checkpoint(ckpt).config
    assert run.data.batch_size == 50 and run.trainer.limit_test_batches == 4
    assert run.data._target_ == stored["data"]["_target_"]  # the rest stays as stored
    assert run.trainer.max_epochs == stored["trainer"]["max_epochs"]


def test_choosing_other_data_replaces_the_stored_data_config(trained):
    _, ckpt = trained
    cfg = compose_command("eval", [f"ckpt_path={ckpt}", "data=cifar10", "paths.data_dir=/d"])
    run = eval_run_config(cfg, read_checkpoint(ckpt))
    assert run.data._target_ == "prunelab.data.CIFARDataModule"
    assert run.data.root == "/d/cifar10"  # interpolated with this machine's paths
    assert run.data.seed == read_checkpoint(ckpt).config["seed"]
    assert "val_split" in run.data and OmegaConf.is_dict(run.model)


class Exploit:
    """A pickle that creates a folder when unpickled: the proof that code would have run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("truncated", "truncated or damaged checkpoint archive"),
        ("text", "not a PyTorch checkpoint"),
        ("state_dict", "not a prunelab checkpoint"),
        ("exploit", "refusing to unpickle"),
        ("saved_exploit", "refusing to unpickle"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(trained, tmp_path, content, message):
    path = tmp_path / "bad.ckpt"
    if content == "truncated":
        data = trained[1].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "text":
        path.write_text("epoch,step,loss\n0,1,2.3\n")
    elif content == "state_dict":
        torch.save(read_checkpoint(trained[1]).state_dict, path)
    elif content == "exploit":  # a raw pickle
        path.write_bytes(pickle.dumps({"state_dict": Exploit(tmp_path / "ran")}, protocol=2))
    else:  # inside torch.save's zip container, beside real weights
        torch.save({"state_dict": {}, "prunelab_config": Exploit(tmp_path / "ran")}, path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)
    assert not (tmp_path / "ran").exists()


def run_cli(monkeypatch, capsys, *args):
    """`prunelab-eval ARGS` in-process: (exit status, stderr)."""
    from prunelab.export.eval_cli import main

    monkeypatch.setattr(sys, "argv", ["prunelab-eval", *args])
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


def test_cli_evaluates_with_open_overrides_and_refuses_a_bad_file(
    trained, tmp_path, monkeypatch, capsys
):
    results, ckpt = trained
    # `data.num_workers=0` is not a key of conf/eval.yaml: it must reach the stored data config.
    out = tmp_path / "eval"
    status, err = run_cli(
        monkeypatch, capsys, f"ckpt_path={ckpt}", "data.num_workers=0", f"hydra.run.dir={out}"
    )
    assert status == 0, err
    assert json.loads((out / "eval.json").read_text())["test/acc"] == results["test/acc"]
    (tmp_path / "junk.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    junk = f"ckpt_path={tmp_path / 'junk.ckpt'}"
    status, err = run_cli(monkeypatch, capsys, junk, f"hydra.run.dir={tmp_path / 'x'}")
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prunelab-eval: error: ckpt_path=")
    status, err = run_cli(monkeypatch, capsys, "data.batch_size=8")
    assert status == 2 and "ckpt_path=PATH is required" in err
