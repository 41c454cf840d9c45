"""What a run prints: the run directory first, no library chatter, FLOPs in the model summary,
progress lines within 80 columns, the results table with the directory on its own line, and one
warning line for a gradual schedule that barely acts."""

import json

from cli_runs import TINY, run_cli
from rich.console import Console

from prunelab.config import compose
from prunelab.results import print_table
from prunelab.terminal import start_lines
from prunelab.train import held_out

CHATTER = ("GPU available", "TPU available", "litlogger", "LitLogger", "anonymous", "wandb:")


def test_the_default_run_prints_where_it_is_and_what_matters(tmp_path):
    # The default job (GMP to 90%) on the tiny budget.
    run_dir = tmp_path / "run"
    proc = run_cli(
        *TINY,
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
    # Parameters and MACs as dense -> pruned, beside the accuracy.
    params = f"{results['params/total']:,} → {results['params/nonzero']:,}"
    macs = f"{results['macs/dense']:,} → {results['macs/nonzero']:,}"
    assert [line for line in out if "params dense → pruned" in line and params in line]
    assert [line for line in out if "MACs dense → pruned" in line and macs in line]
    assert out[-1] == f"run directory: {run_dir}"


def test_the_table_shows_dense_and_pruned_counts_in_one_row():
    console = Console(record=True, width=80)
    results = {"test/acc": 0.3, "params/total": 200, "params/nonzero": 50, "macs/dense": 8}
    print_table({**results, "macs/nonzero": 2, "stages": []}, title="t", console=console)
    rows = [line.strip("│ ") for line in console.export_text().splitlines() if "│" in line]
    assert [" ".join(r.split()) for r in rows] == [
        "test/acc │ 0.3000",
        "params dense → pruned │ 200 → 50 (25.0%)",
        "MACs dense → pruned │ 8 → 2 (25.0%)",
    ]
    # A count without its pair (an export's table) stays a row of its own.
    print_table({"params/total": 200}, title="t", console=console)
    assert "│ params/total │ 200 │" in " ".join(console.export_text().split())


def test_start_block_and_held_out_validation():
    assert start_lines("runs/x", []) == ["prunelab: run directory runs/x"]
    assert start_lines("runs/x", ["seed=1", "pruning=gmp"])[1].endswith("seed=1 pruning=gmp")
    assert not held_out(compose())  # the embedded set validates on its test split
    assert held_out(compose(["data.val_split=500"]))
