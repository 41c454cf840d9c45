"""SIGTERM and Ctrl-C stop a run at the end of a batch: interrupted.ckpt is saved, one line gives
the command that resumes, the exit status is 128 + the signal's number, and the resumed run ends
with the weights of an uninterrupted one, bit for bit on CPU (mid-epoch, mid-IMP-level)."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
import torch
from cli_runs import run_cli
from hydra.core.override_parser.overrides_parser import OverridesParser

from prunelab.data import InMemoryDataset, make_loader
from prunelab.interrupt import resume_command

# Epochs of 8 batches: the signal, sent as soon as the watched file appears, lands mid-training.
BASE = (
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=16",
    "logger=csv",
)
# method: (overrides, the file whose appearance triggers the signal, the signal)
CASES = {
    # Signalled in epoch 1 of 3, after the first pruning steps (every 3 steps).
    "gmp": (
        ("pruning=gmp", "pruning.frequency=3", "trainer.max_epochs=3"),
        "checkpoints/last.ckpt",
        signal.SIGTERM,
    ),
    # level1.pt is written when level 1 starts (pruned, rewound): signalled inside level 1.
    "lth": (
        ("pruning=lth", "pruning.levels=2", "pruning.epochs_per_level=2"),
        "masks/level1.pt",
        signal.SIGINT,
    ),
}
TIMEOUT_S = 240


def start(args, log):
    """`python -m prunelab *args` in the background, as `run_cli` runs it; stderr to `log`."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "prunelab", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip


def interrupt(args, run_dir, watch, sig):
    """Start a run, send `sig` once `run_dir/watch` exists; return (exit status, stderr)."""
    log = run_dir.with_suffix(".log")
    proc = start([*args, f"hydra.run.dir={run_dir}"], log)
    deadline = time.monotonic() + TIMEOUT_S
    while not (run_dir / watch).exists():
        assert proc.poll() is None, f"ended before {watch} appeared:\n{log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"{watch} did not appear"
        time.sleep(0.01)
    proc.send_signal(sig)
    return proc.wait(timeout=TIMEOUT_S), log.read_text()


def final_weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.parametrize("method", sorted(CASES))
def test_signal_saves_prints_resume_and_resumes_exactly(method, tmp_path):
    overrides, watch, sig = CASES[method]
    args = (*BASE, *overrides)
    whole = start([*args, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path / "whole.log")
    code, stderr = interrupt(args, tmp_path / "run", watch, sig)

    assert code == 128 + sig.value, stderr[-2000:]  # 143 for SIGTERM, 130 for SIGINT
    assert not (tmp_path / "run" / "results.json").exists()
    line = stderr.strip().splitlines()[-1]
    saved = tmp_path / "run" / "checkpoints" / "interrupted.ckpt"
    assert re.fullmatch(rf"prunelab: interrupted by {sig.name} at epoch \d+ step \d+; "
                        r"resume with: prunelab .*", line), line  # fmt: skip
    command = shlex.split(line.split("; resume with: ", 1)[1])
    assert command == ["prunelab", *args, f"ckpt_path={saved}"]
    checkpoint = torch.load(saved, weights_only=True)
    progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]
    assert checkpoint["global_step"] == progress["completed"] == progress["ready"]  # no half batch

    resumed = run_cli(*command[1:], timeout=TIMEOUT_S)  # as printed: it continues in place
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert whole.wait(timeout=TIMEOUT_S) == 0, (tmp_path / "whole.log").read_text()[-2000:]
    total = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)
    assert 8 <= checkpoint["global_step"] < total["global_step"]  # stopped mid-training
    done = tmp_path / "run"  # the interrupted run's own folder, and no other
    assert (done / "results.json").is_file() and sorted(os.listdir(tmp_path)) == sorted(
        ["run", "run.log", "whole", "whole.log"]
    )
    expected, got = final_weights(tmp_path / "whole"), final_weights(done)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        assert torch.equal(value, got[name]), name


def test_resume_command_replaces_ckpt_path_and_quotes_for_shell_and_hydra(tmp_path):
    checkpoint = tmp_path / "run (2)" / "interrupted.ckpt"  # a path Hydra would not parse bare
    overrides = ["ckpt_path=old.ckpt", "pruning.exclude=[fc.weight]", "seed=1"]
    words = shlex.split(resume_command(overrides, checkpoint))
    assert words[:3] == ["prunelab", "pruning.exclude=[fc.weight]", "seed=1"]
    assert OverridesParser.create().parse_override(words[3]).value() == str(checkpoint)
    assert resume_command([], None) == "prunelab"


def batches(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return [(x.clone(), y.clone()) for x, y in loader]


def test_loader_resumes_mid_epoch_with_the_batches_of_an_uninterrupted_epoch():
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    data = InMemoryDataset(images, torch.arange(50) % 10, augment=True, seed=3)
    expected = batches(make_loader(data, 8, train=True, seed=3), epoch=2)
    first = make_loader(data, 8, train=True, seed=3)
    first.sampler.set_epoch(2)
    iterator = iter(first)
    for _ in range(3):  # three batches trained on, then the run is stopped
        next(iterator)
    state = first.state_dict()
    assert state == {"epoch": 2, "batch": 3}

    resumed = make_loader(data, 8, train=True, seed=3)
    resumed.load_state_dict(state)
    rest = batches(resumed, epoch=2)
    assert len(rest) == len(expected) - 3
    for (x, y), (x0, y0) in zip(rest, expected[3:], strict=True):
        assert torch.equal(x, x0) and torch.equal(y, y0)
    assert len(batches(resumed, epoch=2)) == len(expected)  # the resume point is used once
