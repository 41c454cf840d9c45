"""prunelab-report keeps runs of different models and datasets apart, and counts no folder a
refused config left behind (only Hydra's config there) nor a run that did not finish."""

import csv
import json

import pytest
import yaml

from prunelab.reporting import main
from prunelab.reporting.runs import STARTED, started
from prunelab.rundir import MARKERS

RESNET = {"_target_": "prunelab.models.CifarResNet", "depth": 20}
VGG = {"_target_": "prunelab.models.CifarVGG", "depth": 11}
CIFAR10 = {"_target_": "prunelab.data.CIFARDataModule", "dataset": "cifar10"}
CIFAR100 = {"_target_": "prunelab.data.CIFARDataModule", "dataset": "cifar100"}


def make_run(folder, seed, model, data, acc=None):
    """A run directory with Hydra's config; results.json (and run.json) only when `acc` is given."""
    (folder / ".hydra").mkdir(parents=True)
    pruning = {"name": "gmp", "sparsity": 0.9}
    config = {"seed": seed, "model": model, "data": data, "pruning": pruning}
    (folder / ".hydra/config.yaml").write_text(yaml.safe_dump(config))
    if acc is not None:
        (folder / "run.json").write_text('{"wandb_id": "abcd1234"}')
        results = {"test/acc": acc, "sparsity": 0.9, "stages": []}
        (folder / "results.json").write_text(json.dumps(results))


def rows(out):
    with (out / "report.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_runs_of_two_models_are_two_groups_not_one_average(tmp_path, capsys):
    for seed, (resnet, vgg) in enumerate(((0.80, 0.60), (0.82, 0.62))):
        make_run(tmp_path / f"resnet/{seed}", seed, RESNET, CIFAR10, resnet)
        make_run(tmp_path / f"vgg/{seed}", seed, VGG, CIFAR10, vgg)
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    found = {r["model"]: r for r in rows(tmp_path / "report")}
    assert set(found) == {"CifarResNet-20", "CifarVGG-11"}
    assert float(found["CifarResNet-20"]["test/acc_mean"]) == pytest.approx(0.81)
    assert float(found["CifarVGG-11"]["test/acc_mean"]) == pytest.approx(0.61)
    assert all(r["runs"] == "2" for r in found.values())
    assert "data" not in found["CifarVGG-11"]  # one dataset: no column for it
    err = capsys.readouterr().err
    assert "runs of 2 models (CifarResNet-20, CifarVGG-11): grouped by model" in err
    assert "more than once" not in err  # no seed is mistaken for a repeated run


def test_two_datasets_split_too_and_one_setting_is_named_in_no_column(tmp_path, capsys):
    make_run(tmp_path / "a", 0, RESNET, CIFAR10, 0.8)
    make_run(tmp_path / "b", 0, RESNET, CIFAR100, 0.5)
    assert main([str(tmp_path), "--out", str(tmp_path / "both")]) == 0
    assert sorted(r["data"] for r in rows(tmp_path / "both")) == ["cifar10", "cifar100"]
    assert "runs of 2 datasets (cifar10, cifar100): grouped by data" in capsys.readouterr().err
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "one")]) == 0
    (only,) = rows(tmp_path / "one")
    assert "model" not in only and "data" not in only and only["runs"] == "1"
    assert "grouped by" not in capsys.readouterr().err


def test_refused_and_unfinished_folders_count_as_no_run(tmp_path, capsys):
    make_run(tmp_path / "done", 0, RESNET, CIFAR10, 0.8)
    make_run(tmp_path / "refused", 1, RESNET, CIFAR10)  # Hydra's config only: never started
    make_run(tmp_path / "killed", 2, RESNET, CIFAR10)
    (tmp_path / "killed/run.json").write_text('{"wandb_id": "abcd1234"}')
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    (row,) = rows(tmp_path / "report")
    assert row["runs"] == "1" and row["seeds"] == "0"
    err = capsys.readouterr().err
    assert f"skipped 1 unfinished run(s) without results.json, e.g. {tmp_path / 'killed'}" in err
    assert "1 unfinished run folder(s) where no run started" in err
    assert str(tmp_path / "refused") in err
    assert main([str(tmp_path / "refused")]) == 2
    assert "1 without results.json: 0 started, 1 never started" in capsys.readouterr().err


def test_started_reads_the_markers_a_run_directory_holds(tmp_path):
    assert set(STARTED) == set(MARKERS) - {"results.json"}  # the report follows prunelab.rundir
    assert not started(tmp_path)
    (tmp_path / "metrics.csv").write_text("")
    assert started(tmp_path)
