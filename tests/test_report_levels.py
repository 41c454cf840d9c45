"""prunelab-report's per-level table: each level of IMP/SAP runs over seeds (density and test
accuracy, mean ± sample std), as report_levels.csv and .md; none for single-stage runs."""

import csv
import json
import statistics

import pytest
import yaml

from prunelab.reporting import main

IMP = {0: [(0.0, 0.90), (0.2, 0.91), (0.36, 0.89)], 1: [(0.0, 0.92), (0.2, 0.92), (0.36, 0.87)]}
SAP = {0: [(0.0, 0.88), (0.31, 0.86), (0.52, 0.80)], 1: [(0.0, 0.90), (0.33, 0.84), (0.55, 0.82)]}


def make_run(folder, seed, pruning, levels=None, acc=0.8):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra/config.yaml").write_text(yaml.safe_dump({"seed": seed, "pruning": pruning}))
    stages = [
        {"stage": i, "sparsity": s, "density": 1 - s, "test/acc": a, "test/loss": 1.0 + i}
        for i, (s, a) in enumerate(levels or [])
    ]
    results = {"test/acc": acc, "sparsity": 0.9, "stages": stages}
    (folder / "results.json").write_text(json.dumps(results))


def read(path):
    with path.open() as handle:
        return {(r["method"], int(r["level"])): r for r in csv.DictReader(handle)}


def test_each_level_over_seeds_and_no_level_for_single_stage_runs(tmp_path):
    for seed in (0, 1):
        make_run(tmp_path / f"imp/{seed}", seed, {"name": "imp", "rewind": "lr"}, IMP[seed])
        make_run(tmp_path / f"sap/{seed}", seed, {"name": "sap", "rewind": "init"}, SAP[seed])
        make_run(tmp_path / f"gmp/{seed}", seed, {"name": "gmp", "sparsity": 0.9})
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    rows = read(tmp_path / "out/report_levels.csv")
    assert list(rows) == [("imp", 0), ("imp", 1), ("imp", 2), ("sap", 0), ("sap", 1), ("sap", 2)]
    for method, levels in (("imp", IMP), ("sap", SAP)):
        for level in range(3):
            row = rows[method, level]
            densities = [1 - levels[seed][level][0] for seed in (0, 1)]
            accs = [levels[seed][level][1] for seed in (0, 1)]
            assert (row["runs"], row["seeds"]) == ("2", "0 1")
            assert float(row["density_mean"]) == pytest.approx(statistics.fmean(densities))
            spread = statistics.stdev(densities)
            assert float(row["density_std"]) == pytest.approx(spread, abs=1e-12)
            assert float(row["test/acc_mean"]) == pytest.approx(statistics.fmean(accs))
            assert float(row["test/acc_std"]) == pytest.approx(statistics.stdev(accs))
            assert float(row["test/loss_mean"]) == pytest.approx(1.0 + level)
    markdown = (tmp_path / "out/report_levels.md").read_text().splitlines()
    assert markdown[0] == "| method | level | runs | density (%) | test acc (%) | test loss |"
    assert "| imp | 1 | 2 | 80.00 ± 0.00 | 91.50 ± 0.71 | 2.0000 ± 0.0000 |" in markdown
    assert "| sap | 2 | 2 | 46.50 ± 2.12 | 81.00 ± 1.41 | 3.0000 ± 0.0000 |" in markdown
    assert main([str(tmp_path / "gmp"), "--out", str(tmp_path / "gmp_only")]) == 0
    assert not (tmp_path / "gmp_only/report_levels.csv").exists()
    # the same folder again with runs that have no levels: the earlier levels table goes
    assert main([str(tmp_path / "gmp"), "--out", str(tmp_path / "out")]) == 0
    assert not (tmp_path / "out/report_levels.csv").exists()
    assert not (tmp_path / "out/report_levels.md").exists()
    assert (tmp_path / "out/report.csv").is_file()


def test_levels_split_as_the_main_table_and_one_seed_has_no_std(tmp_path):
    make_run(tmp_path / "lr", 0, {"name": "imp", "rewind": "lr"}, IMP[0])
    make_run(tmp_path / "init", 0, {"name": "imp", "rewind": "init"}, IMP[1])
    assert main([str(tmp_path), "--out", str(tmp_path / "out"), "--by", "pruning.rewind"]) == 0
    with (tmp_path / "out/report_levels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["pruning.rewind"], r["level"]) for r in rows] == [
        ("init", "0"),
        ("init", "1"),
        ("init", "2"),
        ("lr", "0"),
        ("lr", "1"),
        ("lr", "2"),
    ]
    assert rows[5]["test/acc_mean"] == "0.89" and rows[5]["test/acc_std"] == ""
    assert "| imp | init | 2 | 1 | 64.00 | 87.00 | 3.0000 |" in (
        (tmp_path / "out/report_levels.md").read_text()
    )
