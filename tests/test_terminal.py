"""What a run prints: the run directory first, no library chatter, FLOPs in the model summary,
progress lines within 80 columns, the results table with the directory on its own line, and one
warning line for a gradual schedule that barely acts."""

import json

from cli_runs import TINY, run_cli

from prunelab.config import compose
from prunelab.terminal import start_lines
from prunelab.train import held_out

CHATTER = ("GPU available", "TPU available", "litlogger", "LitLogger", "anonymous", "wandb:")


def test_a_pruning_run_prints_where_it_is_and_what_matters(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(
        *TINY,
        "pruning=gmp",
        "pruning.frequency=2",  # 4 optimizer steps: updates at steps 0 and 2 only
        "trainer.progress_bar=true",
        "trainer.enable_model_summary=true",
        "logger=wandb",
        f"hydra.run.dir={run_dir}",
        COLUMNS="80",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out, err = proc.stdout.splitlines(), proc.stderr.splitlines()
    assert f"prunelab: run directory {run_dir}" in out[:15]
    assert not [line for line in out + err if any(c in line for c in CHATTER)]
    (flops,) = [line for line in out if line.startswith("Total FLOPs:")]
    assert flops.split(":")[1].strip() not in ("0", "")
    bars = [line for line in out if line.startswith("Epoch ")]
    assert bars and all(len(line.rstrip()) <= 80 and "loss:" in line for line in bars)
    warnings = [line for line in err if "gradual schedule" in line]
    assert warnings == [
        "prunelab: warning: the gradual schedule makes 2 pruning update(s) in this run "
        "(fewer than 3: close to one-shot); lower pruning.frequency or train longer"
    ]
    # Validation is the test split: its figures stay in results.json but not in the table.
    results = json.loads((run_dir / "results.json").read_text())
    assert results["sparsity"] > 0.85 and "final/val/acc" in results
    assert not [line for line in out if "final/val" in line]
    assert out[-1] == f"run directory: {run_dir}"


def test_start_block_and_held_out_validation():
    assert start_lines("runs/x", []) == ["prunelab: run directory runs/x"]
    assert start_lines("runs/x", ["seed=1", "pruning=gmp"])[1].endswith("seed=1 pruning=gmp")
    assert not held_out(compose())  # the embedded set validates on its test split
    assert held_out(compose(["data.val_split=500"]))
