"""hydra/sweeper=tune: Optuna maximises the runs' final val/acc (needs the `tune` extra)."""

import json

import pytest
import yaml
from cli_runs import TINY, run_cli

pytest.importorskip(
    "hydra_plugins.hydra_optuna_sweeper",
    reason="hydra-optuna-sweeper is not installed (pip install 'prunelab[tune]')",
)


@pytest.mark.slow
def test_tune_sweeper_maximises_final_val_acc(tmp_path):
    args = [
        "-m",
        "hydra/sweeper=tune",
        "hydra.sweeper.n_trials=2",
        "pruning=gmp",
        "pruning.sparsity=0.9",
        "optim.lr=interval(0.01, 0.3)",
        *TINY,
        "logger=csv",
        f"paths.runs_dir={tmp_path}",
    ]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = tmp_path.glob("prunelab/multirun/*")
    trials = [json.loads((sweep_dir / job / "results.json").read_text()) for job in ("0", "1")]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(t["final/val/acc"] for t in trials)
    lrs = [yaml.safe_load((sweep_dir / j / ".hydra/config.yaml").read_text()) for j in "01"]
    assert all(0.01 <= c["optim"]["lr"] <= 0.3 for c in lrs)
    assert all(c["pruning"]["sparsity"] == 0.9 for c in lrs)  # the sparsity stays fixed
