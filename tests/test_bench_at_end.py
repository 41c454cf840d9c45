"""`bench=true` at the end of a training run: bench.json beside results.json, its speedups in
results.json, measured (repeats > 1) for every form of the final weights, and its figure in the
run's plots."""

import json

import matplotlib.image
import pytest
from cli_runs import TINY, run_cli


def test_a_run_with_bench_true_writes_bench_json_and_its_figures(tmp_path):
    run = tmp_path / "run"
    args = (*TINY, "pruning=global_magnitude", "pruning.sparsity=0.9", "logger=csv", "bench=true")
    done = run_cli(*args, f"hydra.run.dir={run}")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((run / "bench.json").read_text())
    results = json.loads((run / "results.json").read_text())
    assert record["ckpt_path"].endswith("checkpoints/last.ckpt")
    assert {"dense", "compact"} <= set(record["forms"])
    for form, entry in record["forms"].items():
        for batch, timing in entry["batches"].items():
            assert timing["repeats"] > 1 and timing["latency_ms"] > 0
            assert results[f"bench/{form}/speedup@{batch}"] == pytest.approx(timing["speedup"])
            assert results[f"bench/{form}/ms@{batch}"] == pytest.approx(timing["latency_ms"])
    assert results["bench/dense/speedup@1"] == pytest.approx(1.0)
    assert matplotlib.image.imread(run / "plots" / "bench.png").ndim == 3  # the speed figure


def test_bench_must_be_a_boolean(tmp_path):
    done = run_cli(*TINY, "bench=maybe", "logger=csv", f"paths.runs_dir={tmp_path}")
    assert done.returncode == 2 and "bench='maybe' must be true or false" in done.stderr
