"""`prunelab-bench`'s ONNX form and its 2:4 statement, on a tiny ResNet-8 (width 4): the ONNX file
it times is the checkpoint's network (onnxruntime's logits equal PyTorch's), timed like the other
forms; a 2:4 checkpoint's bench.json and table say that no CPU kernel accelerates 2:4 and what
holds on a GPU."""

import json

import numpy as np
import onnxruntime
import pytest
import torch
from rich.console import Console

from prunelab.export.bench_run import bench, print_bench
from prunelab.export.checkpoint import read_checkpoint, restore_network
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.semi_structured import nm_pattern
from prunelab.models.cifar_resnet import CifarResNet

MODEL = {"_target_": "prunelab.models.CifarResNet", "depth": 8, "width": 4}
ARGS = ["batch_sizes=[1,4]", "repeats=2", "warmup=1", "device=cpu"]


def _checkpoint(path, pruning):
    torch.manual_seed(0)
    network = CifarResNet(depth=8, width=4).eval()
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    config = {"model": MODEL, "pruning": pruning}
    torch.save({"prunelab_config": config, "state_dict": state}, path)
    return path


def test_onnx_form_is_the_checkpoints_network_timed_like_the_others(tmp_path):
    ckpt = _checkpoint(tmp_path / "last.ckpt", {"name": "gmp", "pattern": None})
    record = bench(compose_command("bench", [f"ckpt_path={ckpt}", *ARGS]), tmp_path / "run")
    onnx, checkpoint = record["forms"]["onnx"], record["forms"]["checkpoint"]
    assert (onnx["params"], onnx["macs"]) == (checkpoint["params"], checkpoint["macs"])
    for batch in ("1", "4"):
        t = onnx["batches"][batch]
        assert t["repeats"] == 2 and t["latency_ms"] > 0
        assert t["throughput"] == pytest.approx(int(batch) * 1e3 / t["latency_ms"])
        assert t["speedup"] == pytest.approx(
            record["forms"]["dense"]["batches"][batch]["latency_ms"] / t["latency_ms"]
        )
    # the file bench timed, read back by onnxruntime alone, is the checkpoint's network
    assert record["onnx"]["file"] == str(tmp_path / "run" / "model.onnx")
    assert record["onnx"]["max_abs_error"] <= 1e-4
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(record["onnx"]["file"])
    (logits,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected = restore_network(read_checkpoint(ckpt))(images).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert "nm" not in record  # unstructured: nothing to say about 2:4


def test_onnx_false_times_only_the_pytorch_forms(tmp_path):
    ckpt = _checkpoint(tmp_path / "last.ckpt", {"name": "gmp"})
    cfg = compose_command("bench", [f"ckpt_path={ckpt}", *ARGS, "onnx=false"])
    record = bench(cfg, tmp_path / "run")
    assert set(record["forms"]) == {"dense", "checkpoint", "compact"}
    assert record["onnx"] == {"skipped": "onnx=false"}
    assert not (tmp_path / "run" / "model.onnx").exists()


def test_a_two_four_checkpoint_is_said_to_run_dense_on_cpu(tmp_path):
    pruning = {"name": "global_magnitude", "rule": {"kind": "magnitude", "pattern": "2:4"}}
    ckpt = _checkpoint(tmp_path / "last.ckpt", pruning)
    record = bench(compose_command("bench", [f"ckpt_path={ckpt}", *ARGS]), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "bench.json").read_text())["nm"] == record["nm"]
    note = record["nm"]
    assert note["pattern"] == "2:4"
    assert note["measured"].startswith("no CPU kernel accelerates 2:4")
    assert "dense tensors with zeros" in note["measured"]
    assert "to_sparse_semi_structured" in note["gpu"] and "convolutions" in note["gpu"]
    console = Console(width=400, record=True)
    print_bench(record, console)
    assert "2:4 sparsity, measured: no CPU kernel accelerates 2:4" in console.export_text()


def test_nm_pattern_is_found_anywhere_under_pruning_and_only_there():
    assert nm_pattern({"pruning": {"pattern": "2:4"}}) == "2:4"
    assert nm_pattern({"pruning": {"steps": [{"rule": {"pattern": "1:4"}}]}}) == "1:4"
    assert nm_pattern({"pruning": {"pattern": None, "rule": {"pattern": None}}}) is None
    assert nm_pattern({"model": {"pattern": "2:4"}, "pruning": {"name": "gmp"}}) is None
