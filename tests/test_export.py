"""prunelab-export: dense, sparse and ONNX files that give back the pruned network exactly."""

import json
import sys

import pytest
import torch
from hydra.utils import instantiate

from prunelab.config import compose
from prunelab.export import bit_equal, load_sparse, read_checkpoint, restore_network, save_sparse
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.exporting import export
from prunelab.export.sparse import decode, encode
from prunelab.pruning.targets import prunable_parameters
from prunelab.train import train

RUN = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=32",
    "logger=none",
    "pruning=global_magnitude",
    "pruning.sparsity=0.9",
)
IMAGES = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """last.ckpt of one tiny run pruned to 90% sparsity, shared by the module's tests."""
    run_dir = tmp_path_factory.mktemp("run")
    train(compose(RUN), run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def run_export(ckpt, tmp_path, fmt, *extra):
    out = tmp_path / f"model.{fmt}"
    cfg = compose_command("export", [f"ckpt_path={ckpt}", f"format={fmt}", f"out={out}", *extra])
    return export(cfg, tmp_path), out


def test_sparse_file_round_trips_bit_exactly_and_is_small(ckpt, tmp_path):
    info, out = run_export(ckpt, tmp_path, "sparse")
    state = restore_network(read_checkpoint(ckpt)).state_dict()
    restored = load_sparse(out)
    assert list(restored) == list(state)
    assert all(bit_equal(restored[k], state[k]) for k in state)
    dense_info, dense_out = run_export(ckpt, tmp_path, "dense")
    assert out.stat().st_size < dense_out.stat().st_size / 3
    assert info["sparse/round_trip"] == "bit-exact"
    assert json.loads((tmp_path / "export.json").read_text())["format"] == "dense"


@pytest.mark.parametrize(
    ("density", "encoding"), [(1.0, "dense"), (0.1, "bitmask"), (0.005, "indices")]
)
def test_each_tensor_takes_its_smallest_encoding(density, encoding):
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 64, 3, 3, generator=gen)
    weight[torch.rand(weight.shape, generator=gen) >= density] = 0
    entry = encode(weight)
    assert entry["encoding"] == encoding
    assert bit_equal(decode(entry), weight)


def test_signed_zeros_nan_and_small_tensors_survive_exactly(tmp_path):
    state = {
        "w": torch.tensor([[0.0, -0.0, 1.5, float("nan")] * 8] * 8),
        "steps": torch.tensor(7),
        "half": torch.zeros(100, dtype=torch.float16).index_fill_(0, torch.tensor([3]), -2.0),
        "empty": torch.zeros(0, 4),
    }
    restored = load_sparse(save_sparse(state, tmp_path / "s.pt"))
    assert all(bit_equal(restored[k], state[k]) for k in state)
    assert torch.signbit(restored["w"][0, 1])  # -0.0 stays negative


def test_foreign_file_is_not_read_as_sparse(ckpt, tmp_path):
    torch.save({"w": torch.zeros(3)}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a prunelab sparse file"):
        load_sparse(tmp_path / "plain.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a readable prunelab sparse file"):
        load_sparse(tmp_path / "text.pt")


@torch.no_grad()
def test_dense_export_loads_into_a_fresh_model_without_prunelab_callbacks(ckpt, tmp_path):
    _, out = run_export(ckpt, tmp_path, "dense")
    config = read_checkpoint(ckpt).config
    model_args = {k: v for k, v in config["model"].items() if k != "init_from"}
    fresh = instantiate(model_args)  # the bare model class, as any PyTorch user would
    fresh.load_state_dict(torch.load(out, weights_only=True), strict=True)
    fresh.eval()
    network = restore_network(read_checkpoint(ckpt))
    assert torch.equal(fresh(IMAGES), network(IMAGES))
    weights = prunable_parameters(fresh)
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    assert zeros / sum(w.numel() for w in weights.values()) == pytest.approx(0.9, abs=1e-5)


@torch.no_grad()
def test_onnx_export_passes_the_checker_and_matches_pytorch(ckpt, tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install prunelab[export])")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    info, out = run_export(ckpt, tmp_path, "onnx")
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": IMAGES.numpy()})  # a batch of 8: dynamic axis
    expected = restore_network(read_checkpoint(ckpt))(IMAGES)
    assert torch.allclose(torch.from_numpy(logits), expected, atol=1e-4, rtol=0)
    assert info["onnx/checker"] == "passed" and info["onnx/max_abs_error"] <= 1e-4


def test_cli_refuses_a_non_checkpoint_and_an_unknown_format(ckpt, tmp_path, monkeypatch, capsys):
    from prunelab.export.export_cli import main

    (tmp_path / "notes.txt").write_text("not a model")
    for args, message in [
        ([f"ckpt_path={tmp_path / 'notes.txt'}"], "not a PyTorch checkpoint"),
        ([f"ckpt_path={ckpt}", "format=zip"], "format=zip is not one of dense, sparse, onnx"),
    ]:
        argv = ["prunelab-export", *args, f"hydra.run.dir={tmp_path / 'x'}"]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("prunelab-export: error:") and message in line
