"""Runs on a tiny budget: the overrides every quick run shares, and the `prunelab` command
run in a subprocess as a user would."""

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
    environment = {
        **os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1",
        **env,
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "prunelab", *args],
        env=environment, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
