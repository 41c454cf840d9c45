"""Shared fixtures: the optional real data beside the checkout, and a quiet, offline environment."""

import os
from pathlib import Path

import pytest
from cli_runs import TINY

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PRUNELAB_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Tests must never reach the network or prompt for a W&B login.
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    # A test that ran W&B in this process left its service's address here; a child process
    # would attach to that service and find a crashed run's id still in use when it resumes.
    os.environ.pop("WANDB_SERVICE", None)


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` when it holds CIFAR-10; the test is skipped (with the reason) when not."""
    if not (SHARED_DATA / "cifar10").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set PRUNELAB_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def imagenet_sample() -> Path:
    """`../shared/data/imagenet-sample` when it exists (a copy of the shared data may hold
    CIFAR-10 only); the test is skipped (with the reason) when it does not."""
    sample = SHARED_DATA / "imagenet-sample"
    if not sample.is_dir():
        pytest.skip(f"the ImageNet sample is not at {sample} (set PRUNELAB_SHARED_DATA)")
    return sample


@pytest.fixture
def run_prunelab(tmp_path):
    """Run prunelab in-process on a tiny budget: `run_prunelab(["pruning=gmp", ...])`.

    Later overrides win over the tiny defaults. Returns (results dict, run directory).
    """
    from prunelab.config import compose
    from prunelab.train import train

    def run(overrides=(), run_dir=None):
        cfg = compose([*TINY, "logger=csv", *overrides])
        out = run_dir or tmp_path / "run"
        return train(cfg, out), out

    return run
