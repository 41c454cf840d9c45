"""prunelab-report on hand-made run directories: groups, seed statistics, files, refusals."""

import csv
import json
import os
import subprocess
import sys

import pytest
import yaml
from matplotlib.image import imread

from prunelab.reporting import main

DENSE = {"name": "none"}
GMP = {"name": "gmp", "sparsity": 0.9, "allocation": "global"}


def make_run(folder, seed, pruning, results):
    """A run directory as prunelab writes it (only the files the report reads)."""
    (folder / ".hydra").mkdir(parents=True)
    config = {"seed": seed, "name": "${hydra:runtime.choices.model}-x", "pruning": pruning}
    (folder / ".hydra/config.yaml").write_text(yaml.safe_dump(config))
    full = {"test/loss": 1.0, "sparsity": pruning.get("sparsity", 0.0), "stages": [], **results}
    (folder / "results.json").write_text(json.dumps(full))


@pytest.fixture
def sweep(tmp_path):
    """Dense x3 seeds, gmp at 0.5 and 0.9 x3 seeds, gmp-erk at 0.9 x1, IMP x2 seeds (3 levels)."""
    root = tmp_path / "runs"
    for seed, acc in enumerate((0.90, 0.92, 0.91)):
        make_run(root / "dense" / str(seed), seed, DENSE, {"test/acc": acc})
    for target, accs in ((0.5, (0.89, 0.90, 0.91)), (0.9, (0.80, 0.84, 0.82))):
        for seed, acc in enumerate(accs):
            measured = {"sparsity": target + 1e-7 * seed, "test/acc": acc}
            make_run(root / f"gmp/{target}/{seed}", seed, {**GMP, "sparsity": target}, measured)
    erk = {**GMP, "allocation": "erk"}
    make_run(root / "gmp/erk/0", 0, erk, {"test/acc": 0.85, "test/loss": 0.5})
    for seed, accs in enumerate(((0.90, 0.91, 0.89), (0.92, 0.93, 0.87))):
        stages = [
            {"stage": i, "sparsity": s + 3e-6 * seed, "test/acc": a}
            for i, (s, a) in enumerate(zip((0.0, 0.2, 0.36), accs))
        ]
        results = {"test/acc": accs[-1], "sparsity": 0.36, "stages": stages}
        make_run(root / f"imp/{seed}", seed, {"name": "imp", "fraction": 0.2}, results)
    (root / "crashed/.hydra").mkdir(parents=True)  # an unfinished run: config, no results
    (root / "crashed/.hydra/config.yaml").write_text("seed: 9\n")
    return root


def read_csv(path):
    with path.open() as handle:
        return {(r["method"], float(r["target_sparsity"])): r for r in csv.DictReader(handle)}


def test_groups_by_method_and_sparsity_with_seed_statistics(sweep, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out)]) == 0
    rows = read_csv(out / "report.csv")
    assert list(rows) == [
        ("none", 0.0),
        ("gmp", 0.5),
        ("gmp", 0.9),  # the erk run joins its target's group without --by
        ("imp", 0.0),
        ("imp", 0.2),
        ("imp", 0.36),
    ]
    dense, gmp9, imp2 = rows["none", 0.0], rows["gmp", 0.9], rows["imp", 0.2]
    assert dense["runs"] == "3" and dense["seeds"] == "0 1 2"
    assert float(dense["test/acc_mean"]) == pytest.approx(0.91)
    assert float(dense["test/acc_std"]) == pytest.approx(0.01)
    assert gmp9["runs"] == "4"
    assert float(gmp9["test/acc_mean"]) == pytest.approx((0.80 + 0.84 + 0.82 + 0.85) / 4)
    squares = (0.0275**2 + 0.0125**2 + 0.0075**2 + 0.0225**2) / 3  # sample variance (n - 1)
    assert float(gmp9["test/acc_std"]) == pytest.approx(squares**0.5)
    assert float(gmp9["test/loss_mean"]) == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert float(gmp9["density"]) == pytest.approx(0.1, abs=1e-6)
    # Multi-stage runs: one point per stage, final figures not counted again.
    assert imp2["runs"] == "2" and float(imp2["test/acc_mean"]) == pytest.approx(0.92)
    assert float(imp2["test/acc_std"]) == pytest.approx(0.0141421, abs=1e-6)
    assert rows["imp", 0.36]["test/loss_mean"] == ""  # stages carried no loss
    markdown = (out / "report.md").read_text()
    assert "| none | 0 | 3 | 0.0000 | 100.00% | 91.00 ± 1.00 |" in markdown
    err = capsys.readouterr().err
    assert "skipped 1 unfinished run" in err
    assert "gmp at sparsity 0.9 has seed(s) 0 more than once" in err  # the erk run: use --by
    image = imread(out / "report.png")
    assert image.shape[0] > 300 and image.shape[1] > 400


def test_by_splits_a_method_and_a_single_run_has_no_std(sweep, tmp_path):
    out = tmp_path / "report"
    assert main([str(sweep / "gmp"), "--out", str(out), "--by", "pruning.allocation"]) == 0
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    keys = [(r["method"], r["pruning.allocation"], r["target_sparsity"]) for r in rows]
    assert keys == [("gmp", "erk", "0.9"), ("gmp", "global", "0.5"), ("gmp", "global", "0.9")]
    assert rows[0]["runs"] == "1" and rows[0]["test/acc_std"] == ""
    assert float(rows[2]["test/acc_std"]) == pytest.approx(0.02)


def test_refuses_paths_without_runs(sweep, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(sweep), str(empty)]) == 2
    assert f"no runs under {empty}" in capsys.readouterr().err
    assert main([str(sweep / "crashed")]) == 2
    assert "1 without results.json" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main([str(sweep), "--by", "pruning.alocation"]) == 2
    assert "--by pruning.alocation: no run's config has this key" in capsys.readouterr().err
    assert not (sweep / "report.csv").exists()  # nothing written when refusing


def test_module_entry_point_writes_next_to_the_runs(sweep):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "prunelab.reporting", str(sweep / "dense")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "91.00 ± 1.00" in proc.stdout
    assert {"report.csv", "report.md", "report.png"} <= {
        p.name for p in (sweep / "dense").iterdir()
    }


def test_adaptive_levels_average_by_index_and_precropping_sits_at_its_weight_count(tmp_path):
    root = tmp_path / "runs"
    for seed, levels in enumerate(((0.0, 0.31, 0.52), (0.0, 0.33, 0.55))):
        stages = [
            {"stage": i, "sparsity": s, "test/acc": 0.9 - s / 10} for i, s in enumerate(levels)
        ]
        results = {"test/acc": stages[-1]["test/acc"], "sparsity": levels[-1], "stages": stages}
        make_run(root / f"sap/{seed}", seed, {"name": "sap"}, results)
    for seed in (0, 1):  # a narrow dense network: no zeros, 10% of the prunable weights
        cropped = {"test/acc": 0.7, "sparsity": 0.0, "precrop/params_kept": 0.0998}
        make_run(root / f"precrop/{seed}", seed, {"name": "precrop", "density": 0.1}, cropped)
        masked = {"test/acc": 0.71, "sparsity": 0.9}
        make_run(root / f"snip/{seed}", seed, {"name": "snip", "density": 0.1}, masked)
    out = tmp_path / "report"
    assert main([str(root), "--out", str(out)]) == 0
    rows = read_csv(out / "report.csv")
    assert list(rows) == [
        ("precrop", 0.9),
        ("sap", 0.0),
        ("sap", 0.32),
        ("sap", 0.535),
        ("snip", 0.9),
    ]
    assert rows["sap", 0.535]["runs"] == "2"
    assert float(rows["sap", 0.535]["density"]) == pytest.approx(0.465)
    assert float(rows["precrop", 0.9]["density"]) == pytest.approx(0.0998)
    assert float(rows["snip", 0.9]["density"]) == pytest.approx(0.1)
