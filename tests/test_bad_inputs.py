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

from prunelab.config import compose
from prunelab.loggers import wandb_mode
from prunelab.validate import normalize, validate

# (overrides, what the one line must name)
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
]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Each row's (runs folder, finished process), all rows run at once."""
    root = tmp_path_factory.mktemp("bad")
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    started = []
    for i, (args, _) in enumerate(BAD):
        runs = root / str(i)
        command = [sys.executable, "-m", "prunelab", *args, "logger=csv", f"paths.runs_dir={runs}"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append((runs, process))
    done = []
    for runs, process in started:
        out, err = process.communicate(timeout=240)
        done.append((runs, process.returncode, out.decode(), err.decode()))
    return done


@pytest.mark.parametrize("row", range(len(BAD)), ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_input_is_one_line_and_leaves_no_run_folder(refusals, row):
    runs, code, out, err = refusals[row]
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert lines[0].startswith("prunelab: error: ") and BAD[row][1] in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert not runs.exists() or list(runs.rglob("*")) == []  # Hydra's folder was removed


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
