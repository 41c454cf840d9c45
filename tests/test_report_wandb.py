"""prunelab-report --wandb ENTITY/PROJECT/GROUP: a W&B group's runs read through a W&B API object
(here one that reads offline runs' `.wandb` files, or a hand-made one), into the same report their
run directories give; no credentials, offline or no server: one line, exit 2, no prompt, no wait."""

import json
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from test_wandb_run import _items
from test_wandb_sweep import finished_records

from prunelab.reporting import load_run, main, report
from prunelab.reporting.wandb_source import WandbGroup


class OfflineRun:
    """A W&B run as `wandb.Api().runs()` gives it, read from an offline run's files."""

    def __init__(self, folder: Path, state: str = "finished"):
        (log,) = folder.glob("wandb/offline-run-*/run-*.wandb")
        self.files, self.state = log.parent / "files", state
        self.config, self.summary_metrics = {}, {}
        for record in finished_records(log):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                self.id = record.run.run_id
            elif kind == "config":
                self.config.update(_items(record.config.update))
            elif kind == "summary":
                self.summary_metrics.update(_items(record.summary.update))

    def file(self, name):
        return StoredFile(self.files / name)


class StoredFile:
    def __init__(self, path):
        self.path = path

    def download(self, root, replace):
        target = Path(root, self.path.name)
        target.write_bytes(self.path.read_bytes())
        return target.open()


class Api:
    """The `runs(path, filters)` call of `wandb.Api`, over given runs; remembers what is asked."""

    def __init__(self, runs=(), error=None):
        self.found, self.error, self.asked = list(runs), error, []

    def runs(self, path, filters):
        self.asked.append((path, dict(filters)))
        if self.error is not None:
            raise self.error
        return iter(self.found)


def logged_run(folder: Path, overrides, results) -> Path:
    """A run directory and an offline W&B run of it, both written by prunelab's own code."""
    from prunelab.config import compose
    from prunelab.loggers import build_loggers, log_final
    from prunelab.train import run_config

    config = run_config(compose(overrides))
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra/config.yaml").write_text(OmegaConf.to_yaml(config))
    (folder / "results.json").write_text(json.dumps(results))
    logger = OmegaConf.create({"wandb": True, "csv": False, "mode": "offline"})
    log_final(build_loggers(logger, folder, "run", config), results, folder / "plots")
    return folder


def stages(seed):
    levels = [(0, 0.0, 0.80), (1, 0.2, 0.81 + seed / 100), (2, 0.36, 0.79)]
    return [{"stage": i, "sparsity": s, "density": 1 - s, "test/acc": a} for i, s, a in levels]


def test_a_group_logged_by_prunelab_reports_as_its_run_directories(tmp_path):
    folders = []
    for seed in (0, 1):
        results = {"test/acc": 0.79, "test/loss": 0.6, "sparsity": 0.36, "stages": stages(seed)}
        overrides = ["pruning=imp", "pruning.levels=2", f"seed={seed}"]
        folders.append(logged_run(tmp_path / f"runs/{seed}", overrides, results))
    api = Api([OfflineRun(f) for f in folders])
    from_dirs = report([tmp_path / "runs"], tmp_path / "dirs")
    from_wandb = report([], tmp_path / "wandb", sources=[WandbGroup("me/prunelab/imp-1", api)])
    assert api.asked == [("me/prunelab", {"group": "imp-1"})]
    assert from_wandb == from_dirs
    assert [(r.method, r.target, r.runs) for r in from_wandb] == [
        ("imp", 0.0, 2),
        ("imp", 0.2, 2),
        ("imp", 0.36, 2),
    ]
    assert from_wandb[1].mean["test/acc"] == pytest.approx(0.815)  # the stages table, read back
    for name in ("report.csv", "report.md"):
        assert (tmp_path / "wandb" / name).read_text() == (tmp_path / "dirs" / name).read_text()
    # The same Run objects: the config as logged equals the run directory's, stages as written.
    for read, folder in zip(WandbGroup("me/prunelab/imp-1", api).runs(), folders):
        written = load_run(folder)
        assert OmegaConf.to_container(read.config) == OmegaConf.to_container(written.config)
        assert read.results["stages"] == written.results["stages"]
        assert read.value("model") == "CifarResNet-20"


class Stub:
    """A W&B run with the fields `WandbGroup` reads and nothing else."""

    def __init__(self, id, state, acc, seed, rule="magnitude"):
        pruning = {"name": "gmp", "sparsity": 0.9, "rule": {"kind": rule}}
        self.id, self.state = id, state
        self.config = {"seed": seed, "pruning": pruning, "_wandb": {"cli_version": "0"}}
        self.summary_metrics = {"_runtime": 3, "sparsity": 0.9}
        self.summary_metrics.update({} if acc is None else {"test/acc": acc})


def test_unfinished_runs_are_left_out_and_parts_still_split(tmp_path, capsys):
    api = Api([Stub("a", "finished", 0.8, 0), Stub("b", "finished", 0.6, 0, "random")])
    api.found += [Stub("c", "running", None, 1), Stub("d", "crashed", 0.1, 2)]
    api.found += [Stub("e", "finished", None, 3)]
    assert main(["--wandb", "me/prunelab/g", "--out", str(tmp_path)], api=api) == 0
    assert "skipped 3 unfinished run(s) of me/prunelab/g, e.g. me/prunelab/c (running)" in (
        capsys.readouterr().err
    )
    assert "| gmp | magnitude | 0.9 | 1 |" in (tmp_path / "report.md").read_text()
    assert "| gmp | random | 0.9 | 1 |" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    "argv, api, message",
    [
        (["--wandb", "me/prunelab"], Api(), "--wandb me/prunelab: expected ENTITY/PROJECT/GROUP"),
        (["--wandb", "me/p/g"], Api([Stub("c", "running", None, 1)]), "no finished runs in this"),
        (["--wandb", "me/p/g"], Api(error=ValueError("Could not find project p")), "find project"),
        ([], Api(), "no runs: give run directories or --wandb"),
    ],
)
def test_a_group_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, capsys, argv, api, message):
    assert main([*argv, "--out", str(tmp_path)], api=api) == 2
    err = capsys.readouterr().err
    assert err.startswith("prunelab-report: error: ") and message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "report.csv").exists()


def test_without_a_server_to_ask_it_refuses_at_once(tmp_path, monkeypatch, capsys):
    def refused(*env):
        start = time.monotonic()
        assert main(["--wandb", "me/prunelab/g", "--out", str(tmp_path)]) == 2
        assert time.monotonic() - start < 10
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        return err

    assert "WANDB_MODE=offline" in refused()  # as the suite runs
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no credentials
    assert "needs W&B credentials (`wandb login` or WANDB_API_KEY)" in refused()
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert "W&B server http://127.0.0.1:9 unreachable" in refused()
