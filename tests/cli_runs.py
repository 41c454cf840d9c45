"""Runs on a tiny budget: the overrides every quick run shares, and the `prunelab` command
run in a subprocess as a user would."""

import csv
import os
import subprocess
import sys

# Small enough that a whole run takes seconds on 2 CPU cores (add a logger: csv or wandb).
TINY = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=32",
)


def run_cli(*args: str, timeout: int = 240, cwd=None, **env: str) -> subprocess.CompletedProcess:
    """`python -m prunelab *args`, offline and single-threaded, output captured."""
    return run_python(["-m", "prunelab", *args], timeout=timeout, cwd=cwd, **env)


def run_python(argv, timeout: int = 240, cwd=None, **env: str) -> subprocess.CompletedProcess:
    """`python *argv` (e.g. `["-c", SCRIPT, *overrides]`), offline and single-threaded, with a
    W&B service of its own: a test that ran W&B in this process left `WANDB_SERVICE` set, and a
    child attached to that service finds a crashed run's id still in use when it resumes."""
    inherited = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    environment = {
        **inherited, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1",
        **env,
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, *argv],
        env=environment, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def validated_epochs(run_dir) -> list[int]:
    """The epochs a run's metrics.csv holds a validation accuracy for, in file order."""
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as file:
        return [int(float(r["epoch"])) for r in csv.DictReader(file) if r.get("val/acc")]
