"""A PreCropped (physically narrower) checkpoint: eval and ONNX rebuild it from its channel plan."""

import pytest
import torch

from prunelab.config import compose
from prunelab.export import CheckpointError, read_checkpoint, restore_network
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.evaluate import evaluate
from prunelab.export.exporting import export
from prunelab.pruning.channels import PLAN_KEY
from prunelab.train import train

# A tiny PreCropping run (uniform densities: no SNIP pass) tested on 300 images.
RUN = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=3",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=100",
    "logger=none",
    "pruning=precrop",
    "pruning.source=uniform",
    "pruning.density=0.3",
)
FULL_WIDTH_PARAMS = 272_474  # ResNet-20, option B, 10 classes


@pytest.fixture(scope="module")
def precropped(tmp_path_factory):
    """(results, last.ckpt) of the run, shared by the module's tests."""
    run_dir = tmp_path_factory.mktemp("precrop")
    results = train(compose(RUN), run_dir)
    return results, run_dir / "checkpoints" / "last.ckpt"


def test_eval_rebuilds_the_narrow_network_and_reproduces_the_run(precropped, tmp_path):
    results, ckpt = precropped
    evaluated = evaluate(compose_command("eval", [f"ckpt_path={ckpt}"]), tmp_path)
    for key in ("test/acc", "test/loss", "params/total", "macs/dense"):
        assert evaluated[key] == results[key], key
    assert evaluated["params/total"] < FULL_WIDTH_PARAMS / 2


def test_without_its_plan_the_checkpoint_is_refused_by_name(precropped, tmp_path):
    raw = torch.load(precropped[1], map_location="cpu", weights_only=True)
    del raw[PLAN_KEY]
    torch.save(raw, tmp_path / "noplan.ckpt")
    with pytest.raises(CheckpointError, match="structurally pruned network"):
        restore_network(read_checkpoint(tmp_path / "noplan.ckpt"))


@torch.no_grad()
def test_onnx_of_the_narrow_network_matches_pytorch(precropped, tmp_path):
    pytest.importorskip("onnx", reason="onnx not installed (pip install prunelab[export])")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    out = tmp_path / "narrow.onnx"
    cfg = compose_command("export", [f"ckpt_path={precropped[1]}", "format=onnx", f"out={out}"])
    info = export(cfg, tmp_path)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": images.numpy()})
    network = restore_network(read_checkpoint(precropped[1]))
    assert torch.allclose(torch.from_numpy(logits), network(images), atol=1e-4, rtol=0)
    assert info["onnx/checker"] == "passed"
