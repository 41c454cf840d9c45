"""W&B offline: the runs of one sweep share a group, and each run's final figures are in its
summary and its results table, read back from the files W&B wrote."""

import json
import time
from pathlib import Path

import pytest
from cli_runs import TINY, run_cli
from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024  # the .wandb file is a LevelDB-style log: 32 KiB blocks of 7-byte-header chunks
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def wandb_records(path: Path) -> list:
    """Every record of a `.wandb` transaction log, as wandb_internal_pb2.Record messages."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    records, payload, pos = [], b"", 7  # 7: the file header (ident, magic, version)
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        payload += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (FULL, LAST):
            records.append(wandb_internal_pb2.Record.FromString(payload))
            payload = b""
        elif kind not in (FIRST, MIDDLE):
            break  # zero padding at the end of the file
    return records


def finished_records(log: Path, timeout_s: float = 60.0) -> list:
    """The records of an offline run's log once W&B has written its last (`exit`): the writer
    may still be flushing when `finish()` returns (under load, one read in three came back
    without the summary)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            records = wandb_records(log)
        except Exception:  # noqa: BLE001 (a record half written: read again)
            records = []
        if records and records[-1].WhichOneof("record_type") == "exit":
            return records
        assert time.monotonic() < deadline, f"{log}: W&B did not finish writing it"
        time.sleep(0.1)


def _key(item) -> str:
    # Newer W&B writers put the name in nested_key (first element) and leave key empty.
    return item.key or item.nested_key[0]


def read_run(run_dir: Path) -> dict:
    """The offline W&B run under `run_dir`: id, group, summary (last value per key), tables."""
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    run: dict = {"summary": {}, "history_keys": set(), "files": log.parent / "files"}
    for record in finished_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["id"], run["group"] = record.run.run_id, record.run.run_group
        elif kind == "summary":
            for item in record.summary.update:
                run["summary"][_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            run["history_keys"] |= {_key(item) for item in record.history.item}
    return run


@pytest.mark.slow
def test_sweep_runs_share_a_group_and_carry_their_figures(tmp_path):
    args = [
        "-m",
        "seed=0,1",
        "pruning=global_magnitude",
        "pruning.sparsity=0.8",
        "logger=wandb",
        *TINY,
        f"paths.runs_dir={tmp_path}",
    ]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = tmp_path.glob("prunelab/multirun/*")
    runs = [read_run(sweep_dir / job) for job in ("0", "1")]

    # One W&B run per job (not the first job's run reused), both in the sweep's group.
    assert runs[0]["id"] != runs[1]["id"]
    assert runs[0]["group"] == runs[1]["group"] == f"prunelab-{sweep_dir.name}"
    for job, run in zip(("0", "1"), runs):
        results = json.loads((sweep_dir / job / "results.json").read_text())
        for key in ("test/acc", "test/loss", "sparsity", "params/nonzero", "macs/nonzero"):
            assert run["summary"][key] == results[key], key
        assert {"results", "plots/layer_density"} <= run["history_keys"]
        (table,) = run["files"].glob("media/table/results_*.table.json")
        table = json.loads(table.read_text())
        (row,) = table["data"]
        by_column = dict(zip(table["columns"], row))
        assert by_column["test/acc"] == results["test/acc"]
        assert by_column["sparsity"] == results["sparsity"]
