"""`prunelab-bench` on a tiny ResNet-8 (width 4) with whole filters pruned: bench.json holds,
for each form, latency and throughput from repeated measurements, and the compact form is the
narrower one; a checkpoint it cannot rebuild is refused in one line."""

import json
import sys

import pytest
import torch

from prunelab.export.bench_cli import main
from prunelab.export.bench_run import bench
from prunelab.export.cli_args import compose as compose_command
from prunelab.models.cifar_resnet import CifarResNet

MODEL = {"_target_": "prunelab.models.CifarResNet", "depth": 8, "width": 4}
DEAD = 3  # filters of layer2.0.conv1 (8 wide) zeroed: fresh BN maps them to exactly 0


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    network = CifarResNet(depth=8, width=4).eval()
    with torch.no_grad():
        network.layer2[0].conv1.weight[:DEAD] = 0
    path = tmp_path_factory.mktemp("bench") / "last.ckpt"
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    torch.save({"prunelab_config": {"model": MODEL}, "state_dict": state}, path)
    return path


def test_bench_json_has_measured_latency_and_throughput_per_form(ckpt, tmp_path):
    cfg = compose_command(
        "bench", [f"ckpt_path={ckpt}", "batch_sizes=[1,8]", "repeats=3", "warmup=1", "device=cpu"]
    )
    record = bench(cfg, tmp_path)
    assert json.loads((tmp_path / "bench.json").read_text()) == record
    forms = record["forms"]
    assert set(forms) == {"dense", "checkpoint", "compact", "onnx"}
    for entry in forms.values():
        assert set(entry["batches"]) == {"1", "8"}
        for batch, t in entry["batches"].items():
            assert t["repeats"] == 3 and t["calls_per_repeat"] >= 1
            assert t["latency_ms"] > 0 and t["latency_iqr_ms"] >= 0
            assert t["throughput"] == pytest.approx(int(batch) * 1e3 / t["latency_ms"])
            dense = forms["dense"]["batches"][batch]["latency_ms"]
            assert t["speedup"] == pytest.approx(dense / t["latency_ms"])
    # compact lost the dead filters (3 x 4 x 3 x 3 weights, BN 2 x 3, columns 8 x 3 x 3 x 3)
    removed = DEAD * 4 * 9 + 2 * DEAD + 8 * DEAD * 9
    assert forms["compact"]["params"] == forms["checkpoint"]["params"] - removed
    assert forms["compact"]["mac_reduction"] > forms["checkpoint"]["mac_reduction"] == 1.0


def test_cli_refuses_a_checkpoint_it_cannot_rebuild_in_one_line(tmp_path, monkeypatch, capsys):
    wrong = tmp_path / "wrong.ckpt"  # weights of another width than its config builds
    network = CifarResNet(depth=8, width=8)
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    torch.save({"prunelab_config": {"model": MODEL}, "state_dict": state}, wrong)
    bare = tmp_path / "bare.pt"
    torch.save(network.state_dict(), bare)
    for path, words in ((wrong, "structurally pruned"), (bare, "not a prunelab checkpoint")):
        argv = ["prunelab-bench", f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}"]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("prunelab-bench: error: ckpt_path=") and words in line


def test_multiple_times_a_compact_form_of_whole_channel_blocks(ckpt, tmp_path):
    """multiple=4: 8 - 3 = 5 live channels round up to 8, nothing cut; multiple=5 cuts all 3."""
    params = {}
    for multiple in (4, 5):
        args = [f"ckpt_path={ckpt}", "batch_sizes=[2]", "repeats=2", "warmup=1", "device=cpu"]
        cfg = compose_command("bench", [*args, f"multiple={multiple}"])
        record = bench(cfg, tmp_path / str(multiple))
        assert record["multiple"] == multiple
        params[multiple] = record["forms"]["compact"]["params"]
        full = record["forms"]["checkpoint"]["params"]
    assert params[4] == full
    assert params[5] == full - (DEAD * 4 * 9 + 2 * DEAD + 8 * DEAD * 9)
