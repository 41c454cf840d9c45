"""Hostile files through every entry point that reads one: none runs code, each is refused in one
line. A payload proves code ran by creating a marker folder; every test asserts it is absent.

Entry points: training `ckpt_path` (also as a URL served on 127.0.0.1), `model.init_from`,
`model.weights`, `pruning.masks_from`, and `prunelab-eval` / `prunelab-export`, whose stored run
config is data: a `_target_` outside prunelab's config tree is never instantiated.
"""

import http.server
import os
import pickle
import sys
import threading
from pathlib import Path

import pytest
import torch
from cli_runs import TINY, run_cli

from prunelab.loading import LoadError, load_file
from prunelab.models import CifarResNet, torchvision_model
from prunelab.pruning.mask_io import load_masks


class Exploit:
    """A pickle that creates a folder when unpickled: the proof that code would have run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def write_payload(path: Path, marker: Path, kind: str) -> Path:
    """A raw pickle payload, or one inside torch.save's zip container beside real tensors."""
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"state_dict": Exploit(marker)}, protocol=2))
    else:
        torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": Exploit(marker)}, path)
    return path


def one_line_refusal(result, key: str, prog: str = "prunelab") -> str:
    """The run was refused with exit 2 and one `<prog>: error: <key>=...` line on stderr."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"{prog}: error: {key}="), lines[0]
    return lines[0]


@pytest.mark.parametrize("kind", ["pickle", "zip"])
def test_training_entry_points_refuse_payloads(tmp_path, kind):
    marker = tmp_path / "ran"
    bad = write_payload(tmp_path / "bad.ckpt", marker, kind)
    masks_run = tmp_path / "imp_run"
    (masks_run / "masks").mkdir(parents=True)
    write_payload(masks_run / "masks" / "level1.pt", marker, kind)
    cases = {
        "ckpt_path": [f"ckpt_path={bad}"],
        "model.init_from": [f"model.init_from={bad}"],
        "pruning.masks_from": [
            "pruning=lth",
            "pruning.levels=1",
            f"pruning.masks_from={masks_run}",
        ],
    }
    for key, overrides in cases.items():
        run_dir = tmp_path / key
        result = run_cli(*TINY, "logger=csv", f"hydra.run.dir={run_dir}", *overrides)
        line = one_line_refusal(result, key)
        assert "refusing to unpickle" in line
        assert not marker.exists()
        assert not (run_dir / "checkpoints").exists()  # refused before any training


@pytest.fixture
def served(tmp_path):
    """A payload checkpoint served over HTTP on 127.0.0.1; yields (url, marker, requests seen)."""
    marker = tmp_path / "ran"
    write_payload(tmp_path / "x.ckpt", marker, "zip")
    seen = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            seen.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.ckpt", marker, seen
    finally:
        server.shutdown()
        server.server_close()


def test_url_checkpoints_are_refused_unfetched(tmp_path, served):
    url, marker, seen = served
    for key in ("ckpt_path", "model.init_from"):
        result = run_cli(*TINY, "logger=csv", f"hydra.run.dir={tmp_path / key}", f"{key}={url}")
        assert "is a URL" in one_line_refusal(result, key)
    assert not marker.exists() and seen == []  # never even downloaded


def test_weights_and_masks_files_go_through_the_loader(tmp_path):
    marker = tmp_path / "ran"
    for kind in ("pickle", "zip"):
        bad = write_payload(tmp_path / f"{kind}.pt", marker, kind)
        with pytest.raises(LoadError, match=r"model\.weights=.*refusing to unpickle"):
            torchvision_model("resnet18", num_classes=10, weights=bad)
        with pytest.raises(LoadError, match=r"pruning\.masks_from=.*refusing to unpickle"):
            load_masks(bad)
    assert not marker.exists()
    fake = tmp_path / "fake_masks.pt"  # loadable, but not names mapped to {shape, bits}
    torch.save({"conv.weight": {"shape": [4, 4], "bits": torch.zeros(1, dtype=torch.uint8)}}, fake)
    with pytest.raises(LoadError, match="not a prunelab masks file"):
        load_masks(fake)
    with pytest.raises(LoadError, match="is a URL"):
        load_file("https://example.invalid/weights.pt", "model.weights")


def hostile_checkpoint(path: Path, section: str, node: dict) -> Path:
    """A well-formed prunelab checkpoint whose stored `section` config is `node`."""
    network = CifarResNet(depth=8, num_classes=10)
    model = {"_target_": "prunelab.models.CifarResNet", "depth": 8, "num_classes": 10}
    data = {"_target_": "prunelab.data.MiniCIFAR10DataModule", "num_classes": 10}
    config = {"model": model, "data": data, "seed": 0}
    config[section] = node
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    torch.save({"prunelab_config": config, "state_dict": state}, path)
    return path


def run_entry(monkeypatch, capsys, module: str, *args: str):
    """`prunelab-eval` / `prunelab-export` in-process: (exit status, stderr)."""
    main = __import__(f"prunelab.export.{module}", fromlist=["main"]).main
    monkeypatch.setattr(sys, "argv", [module, *args])
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize("section", ["model", "data"])
@pytest.mark.parametrize("target", ["builtins.open", "torch.load", "os.system"])
def test_stored_configs_never_instantiate_foreign_targets(
    tmp_path, monkeypatch, capsys, section, target
):
    marker = tmp_path / "ran"
    payload = write_payload(tmp_path / "payload.pkl", marker, "pickle")
    node = {
        "builtins.open": {"_target_": target, "file": str(marker), "mode": "w"},
        "torch.load": {"_target_": target, "f": str(payload), "weights_only": False},
        "os.system": {"_target_": target, "command": f"mkdir {marker}"},
    }[target]
    ckpt = hostile_checkpoint(tmp_path / "hostile.ckpt", section, node)
    for module, extra in (("eval_cli", []), ("export_cli", ["format=dense"])):
        args = [f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / module}", *extra]
        status, err = run_entry(monkeypatch, capsys, module, *args)
        if module == "export_cli" and section == "data":
            assert status == 0, err  # export builds no data: the stored data node is never used
            continue
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1, err
        assert f"{section}._target_='{target}' is not one of prunelab's own targets" in lines[0]
    assert not marker.exists()
