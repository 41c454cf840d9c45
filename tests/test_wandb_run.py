"""W&B used as W&B, read back from the `.wandb` files of an offline 2-job sweep: each run named
after its swept value, tagged and typed by its method, with the learning rate, one per-layer
density table per mask change, the results in its summary and the checkpoint as an artifact."""

import csv
import json
from pathlib import Path

import pytest
from cli_runs import TINY, run_cli
from test_wandb_sweep import finished_records

from prunelab.wandb_log import run_name, swept_keys


def _items(items) -> dict:
    """W&B's history items as a dict; a nested key (a table's `path`, `sha256`, ...) as a dict."""
    row: dict = {}
    for item in items:
        keys, value = [item.key] if item.key else list(item.nested_key), json.loads(item.value_json)
        node = row
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return row


def read_run(run_dir: Path) -> dict:
    """The run record's identity, the summary and every history row of an offline W&B run."""
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    run: dict = {"summary": {}, "history": [], "files": log.parent / "files", "artifacts": {}}
    for record in finished_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.update(id=r.run_id, name=r.display_name, job_type=r.job_type, tags=list(r.tags))
        elif kind == "artifact":
            files = [entry.path for entry in record.artifact.manifest.contents]
            run["artifacts"][record.artifact.name] = (record.artifact.type, files)
        elif kind == "summary":
            run["summary"].update(_items(record.summary.update))
        elif kind == "history":
            run["history"].append(_items(record.history.item))
    return run


def test_swept_keys_and_names_pick_the_swept_values_only():
    argv = ["-m", "seed=0,1", "pruning=gmp", "optim.lr=interval(0.01, 0.3)", "data.batch_size=32"]
    assert swept_keys(argv) == ["seed", "optim.lr"]
    assert swept_keys(argv, {"optim.momentum": "choice(0.8, 0.9)"})[-1] == "optim.momentum"
    task = ["seed=1", "pruning=gmp", "optim.lr=0.05", "data.batch_size=32"]
    assert (
        run_name("resnet20-gmp", task, ["seed", "optim.lr"]) == "resnet20-gmp seed=1 optim.lr=0.05"
    )
    assert run_name("resnet20-gmp", task, []) == "resnet20-gmp"


@pytest.mark.slow
def test_a_sweep_logs_names_tags_lr_layer_tables_and_results(tmp_path):
    args = ["-m", "seed=0,1", "pruning=gmp", "pruning.frequency=1", "logger=wandb"]
    args += ["logger.tags=[smoke]", "logger.log_model=true", *TINY, "trainer.log_every_n_steps=1"]
    args += [f"paths.runs_dir={tmp_path}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = tmp_path.glob("prunelab/multirun/*")
    jobs = [sweep_dir / job for job in ("0", "1")]
    runs = [read_run(job) for job in jobs]

    assert [r["name"] for r in runs] == ["resnet20-gmp seed=0", "resnet20-gmp seed=1"]
    for job, run in zip(jobs, runs):
        assert run["job_type"] == "gmp"
        assert set(run["tags"]) == {"resnet20", "cifar10_mini", "gmp", "smoke"}
        # The learning rate at every optimizer step, in W&B and in metrics.csv alike.
        with open(job / "metrics.csv", newline="") as file:
            rows = list(csv.DictReader(file))
        csv_lr = [float(r["lr"]) for r in rows if r.get("lr")]
        assert [h["lr"] for h in run["history"] if "lr" in h] == pytest.approx(csv_lr)
        assert len(csv_lr) == 4  # TINY: 4 optimizer steps

        # One density table per mask change (its sparsity beside it), no per-layer panels.
        changes = [r for r in rows if r.get("prune/sparsity")]
        charts = [h for h in run["history"] if "prune/layers_table" in h]
        assert len(charts) == len(changes) == 4
        assert not any(k.startswith("prune/layer/") for h in run["history"] for k in h)
        last = charts[-1]
        assert last["prune/sparsity"] == pytest.approx(float(changes[-1]["prune/sparsity"]))
        table = json.loads((run["files"] / last["prune/layers_table"]["path"]).read_text())
        assert table["columns"] == ["layer", "density"]
        densities = {name: d for name, d in table["data"]}
        assert densities == pytest.approx(
            {
                k[len("prune/layer/") :]: float(v)
                for k, v in changes[-1].items()
                if "prune/layer/" in k
            }
        )

        assert run["artifacts"][f"model-{run['id']}"] == ("model", ["last.ckpt"])
        results = json.loads((job / "results.json").read_text())
        for key in ("test/acc", "sparsity", "params/nonzero", "macs/nonzero"):
            assert run["summary"][key] == results[key], key
