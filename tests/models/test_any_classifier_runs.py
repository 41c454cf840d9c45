"""`prunelab model=torchvision|timm model.arch=NAME` as a user runs it: pruned to the exact
sparsity, evaluated again from its checkpoint, and refused in one line (exit 2) when a name is
wrong. Offline: the hub cache is a temporary folder, the network a closed port. Each command costs
~7 s of imports on 2 cores, so the timm run calls `train` in-process (and a release that cannot be
downloaded is refused in test_any_classifier.py)."""

import json

import pytest
import torch
from cli_runs import TINY, run_cli

from prunelab.config import compose
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.evaluate import evaluate
from prunelab.models import timm_model, torchvision_model
from prunelab.pruning.targets import prunable_parameters
from prunelab.train import train as train_in_process

SPARSITY = 0.8
RUN = (*TINY, "logger=csv", "pruning=global_magnitude", f"pruning.sparsity={SPARSITY}")
OFFLINE = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}  # refused


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, as run_cli's OMP_NUM_THREADS=1: on a busy 2-core machine two threads
    spin more than they work (a tiny run measured 1.8 s of CPU with one, 25 s with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_cli(run_dir, *overrides: str) -> dict:
    """A tiny pruned run through the command line; its results.json."""
    done = run_cli(*RUN, *overrides, f"hydra.run.dir={run_dir}", TORCH_HOME=str(run_dir / "hub"))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "results.json").read_text())


def assert_exact_sparsity(results: dict, network) -> None:
    """The measured sparsity is the target to within one weight of all prunable ones."""
    total = sum(p.numel() for p in prunable_parameters(network).values())
    assert abs(results["sparsity"] - SPARSITY) <= 1 / total, (results["sparsity"], total)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    """(results, run directory) of a pruned mobilenet_v3_small: depthwise convs included."""
    run_dir = tmp_path_factory.mktemp("mobilenet")
    return train_cli(run_dir, "model=torchvision", "model.arch=mobilenet_v3_small"), run_dir


def test_mobilenet_is_pruned_to_the_exact_sparsity(mobilenet):
    results, _ = mobilenet
    assert_exact_sparsity(results, torchvision_model("mobilenet_v3_small", 10))


def test_eval_of_the_checkpoint_reproduces_the_runs_test_accuracy(mobilenet, tmp_path):
    results, run_dir = mobilenet
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    evaluated = evaluate(compose_command("eval", [f"ckpt_path={ckpt}"]), tmp_path)
    for key in ("test/acc", "test/loss", "sparsity"):
        assert evaluated[key] == results[key], key


def test_a_timm_model_is_pruned_to_the_exact_sparsity(tmp_path, monkeypatch):
    pytest.importorskip("timm")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    overrides = [*RUN, "model=timm", "model.arch=mobilenetv3_small_050"]
    results = train_in_process(compose(overrides), tmp_path / "run")
    assert_exact_sparsity(results, timm_model("mobilenetv3_small_050", 10))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model.arch=mobilenet_v3_smal"],
            "unknown torchvision arch 'mobilenet_v3_smal' (closest: mobilenet_v3_small, "
            "mobilenet_v3_large, mobilenet_v2); valid choices: 'resnet18', 'resnet50', 'vgg16_bn' "
            "(configs of their own: model=NAME) and every other classifier of ",
        ),
        (
            ["model.arch=resnet50", "model.weights=IMAGENET1K_V9"],
            "model.weights=IMAGENET1K_V9 is not a torchvision release of resnet50; valid: "
            "IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT (or ResNet50_Weights.NAME), or a local file "
            "path",
        ),
    ],
    ids=["arch", "release"],
)
def test_an_unknown_name_is_refused_in_one_line_with_exit_2(overrides, message, tmp_path):
    refused = run_cli(
        "model=torchvision", *overrides, "logger=csv", f"hydra.run.dir={tmp_path / 'run'}",
        TORCH_HOME=str(tmp_path / "torch"), **OFFLINE,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr[-3000:]
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"prunelab: error: {message}"), line
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before any compute
    assert not (tmp_path / "torch").exists()  # checked before any download
