"""Every user error is one line `prunelab: error: ...`, exit 2, no traceback and no run folder.

The rows run as concurrent `prunelab` subprocesses (each mostly waits on imports), so the table
costs about as much as its slowest row.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from cli_runs import TINY, run_cli

from prunelab.config import compose
from prunelab.loggers import wandb_mode
from prunelab.validate import normalize, validate

RUN = (*TINY, "pruning=none", "test_after_fit=false")  # the dense run the last rows resume

# (overrides, what the one line must name); `{name}` is a file or folder of `inputs` below,
# `{runs}` the row's own runs folder.
BAD = [
    (("pruning=gmp", "pruning.sparsty=0.5"), "did you mean pruning.sparsity?"),
    (("optim.lrr=0.1",), "did you mean optim.lr?"),
    (("model=resnet21",), "model=resnet21 is not a known model"),
    (("trainer.devices=0",), "trainer.devices=0 is out of range"),
    (("trainer.precision=foo",), "trainer.precision=foo is not one of"),
    (("trainer.limit_train_batches=-1",), "trainer.limit_train_batches=-1 is out of range"),
    (("trainer.gradient_clip_val=-1",), "trainer.gradient_clip_val=-1 is out of range"),
    (("sched=onecycle", "sched.pct_start=2"), "sched.pct_start=2 is out of range"),
    (("pruning=gmp", "pruning.frequency=1.5"), "pruning.frequency=1.5 is not an integer"),
    (("optim.lr=abc",), "optim.lr='abc' is not a number"),
    # Data roots that hold no images.
    (("data=imagefolder", "data.root={empty}", "data.num_classes=3"), "no train/<class>/ folders"),
    (("data=imagefolder", "data.root={text_tree}", "data.num_classes=3"), "no images ("),
    (("data=cifar10", "data.root={texts}"), "holds no cifar10 data"),
    (("data=cifar10", "data.root={text_tree}"), "no images ("),
    (("data.val_split=6000",), "val_split=6000 cannot be held out of 5000 training images"),
    # Training checkpoints that are none (the one loader refuses them).
    (("ckpt_path={runs}/missing.ckpt",), "missing.ckpt does not exist or is not a file"),
    (("ckpt_path={notes}",), "(neither a torch.save archive nor a pickle)"),
    (("ckpt_path={weights}",), "is not a Lightning training checkpoint"),
    (("ckpt_path=https://example.com/last.ckpt",), "is a URL: prunelab reads local files only"),
    # A checkpoint of another model or method: in its own folder, moved, or in a new folder.
    ((*RUN, "model=vgg11", "ckpt_path={last}"), "model.depth=11 (ran with 20)"),
    ((*RUN, "pruning=gmp", "ckpt_path={moved}"), "trained with another pruning method: "),
    ((*RUN, "model=vgg11", "ckpt_path={last}", "hydra.run.dir={runs}/new"), "another model: "),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The files and folders the rows name, and a finished resnet20 run (dense) to resume."""
    root = tmp_path_factory.mktemp("inputs")
    made = {"empty": root / "empty", "texts": root / "texts", "text_tree": root / "text_tree"}
    made["empty"].mkdir()
    made["texts"].mkdir()
    (made["texts"] / "README.txt").write_text("not an image\n")
    for split in ("train", "test", "val"):
        for name in ("a", "b", "c"):
            (made["text_tree"] / split / name).mkdir(parents=True)
            (made["text_tree"] / split / name / "0.txt").write_text("not an image\n")
    made["notes"] = root / "notes.ckpt"
    made["notes"].write_text("a text file, not a checkpoint\n")
    made["weights"] = root / "weights.pt"
    torch.save({"conv.weight": torch.zeros(2, 3, 3, 3)}, made["weights"])
    run = root / "resnet20"
    done = run_cli(*RUN, "logger=csv", f"hydra.run.dir={run}")
    assert done.returncode == 0, done.stderr[-2000:]
    made["last"] = run / "checkpoints" / "last.ckpt"
    made["moved"] = root / "moved.ckpt"
    made["moved"].write_bytes(made["last"].read_bytes())
    made["listing"] = sorted(p.relative_to(run) for p in run.rglob("*"))
    return made


@pytest.fixture(scope="module")
def refusals(tmp_path_factory, inputs):
    """Each row's (runs folder, finished process), all rows run at once."""
    root = tmp_path_factory.mktemp("bad")
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    started = []
    for i, (args, _) in enumerate(BAD):
        runs = root / str(i)
        given = [a.format(runs=runs, **inputs) for a in args]
        command = [sys.executable, "-m", "prunelab", *given, "logger=csv", f"paths.runs_dir={runs}"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append((runs, process))
    done = []
    for runs, process in started:
        out, err = process.communicate(timeout=240)
        done.append((runs, process.returncode, out.decode(), err.decode()))
    return done


@pytest.mark.parametrize(
    "row",
    range(len(BAD)),
    ids=[" ".join(a[len(RUN) :] if a[: len(RUN)] == RUN else a) for a, _ in BAD],
)
def test_a_bad_input_is_one_line_and_leaves_no_run_folder(refusals, row):
    runs, code, out, err = refusals[row]
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert lines[0].startswith("prunelab: error: ") and BAD[row][1] in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert not runs.exists() or list(runs.rglob("*")) == []  # Hydra's folder was removed


def test_a_refused_resume_leaves_the_checkpoints_run_as_it_was(refusals, inputs):
    run = inputs["last"].parent.parent
    assert inputs["last"].read_bytes() == inputs["moved"].read_bytes()  # nothing was trained
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == inputs["listing"]


def test_a_bare_exclude_is_one_glob():
    cfg = compose(["pruning=gmp", "pruning.exclude=fc.weight"])
    normalize(cfg)
    validate(cfg)
    assert list(cfg.pruning.exclude) == ["fc.weight"]


def test_wandb_without_its_server_logs_offline_after_one_warning(monkeypatch, capsys):
    # A server that accepts the connection and never answers, as behind a silent firewall.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("WANDB_BASE_URL", url)
        monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
        monkeypatch.delenv("WANDB_MODE", raising=False)
        assert wandb_mode(None) == "offline"
    (line,) = capsys.readouterr().err.strip().splitlines()
    # The reason names how it failed (here a time-out; a reset or refusal under load reads so).
    assert line.startswith(f"prunelab: warning: W&B server {url} unreachable ("), line
    assert "); logging offline" in line, line
