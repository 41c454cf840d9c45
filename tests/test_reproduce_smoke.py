"""One smoke-scale invocation of benchmarks/reproduce.py (claim 3, one seed, embedded data): the
runs land where the protocol says, the document's numbers are the runs' numbers, and a second
invocation runs nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "reproduce.py"


def reproduce(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    args = ["--budget", "smoke", "--claims", "3", "--seeds", "0", "--mini", "--jobs", "1"]
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--root", str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_smoke_claim3_runs_reports_and_resumes(tmp_path):
    first = reproduce(tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    results = {
        method: json.loads((tmp_path / f"claim3/{method}_s0.95_seed0/results.json").read_text())
        for method in ("granet", "gmp")
    }
    for found in results.values():
        assert found["sparsity"] == pytest.approx(0.95, abs=1e-5)  # measured on the weights
    summary = json.loads((tmp_path / "reproduction/claim3/summary.json").read_text())
    row = summary["tables"][0]["rows"][0]
    granet, gmp = (100 * results[m]["test/acc"] for m in ("granet", "gmp"))
    assert row[2:5] == [f"{granet:.2f}", f"{gmp:.2f}", f"{granet - gmp:+.2f}"]
    assert summary["verdict"] in ("reproduced", "partly", "not reproduced")
    doc = (tmp_path / "reproduction.md").read_text()
    assert "| " + " | ".join(row) + " |" in doc
    assert (tmp_path / "reproduction" / "claim3" / "report.png").is_file()
    stamp = (tmp_path / "claim3/gmp_s0.95_seed0/results.json").stat().st_mtime_ns

    second = reproduce(tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "2 of 2 runs already done; 0 to run" in second.stdout
    assert (tmp_path / "claim3/gmp_s0.95_seed0/results.json").stat().st_mtime_ns == stamp
