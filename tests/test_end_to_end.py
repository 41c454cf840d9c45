"""Whole runs on real images: the contract's files and keys, learning, repeatability."""

import json

import pytest
import torch
from cli_runs import run_cli

from prunelab.results import CONTRACT_KEYS


def test_a_short_run_of_the_default_job_prunes_and_learns(run_prunelab):
    # The default job (GMP to 90%, an update every 10 steps) cut to 2 epochs of 40 steps of 32
    # real training images, pruning in the first, evaluated on all 1,000 embedded test images.
    short = ["trainer.max_epochs=2", "trainer.limit_train_batches=40", "pruning.end_epoch=1"]
    results, run_dir = run_prunelab([*short, "trainer.limit_test_batches=null", "optim.lr=0.05"])
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert set(CONTRACT_KEYS) <= set(on_disk)
    # Counted again from the saved weights: ResNet-20's 270,896 conv and linear weights.
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() in (2, 4)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert sum(w.numel() for w in weights) == 270_896 and abs(zeros - 0.9 * 270_896) <= 1
    assert on_disk["stages"] == [] and on_disk["sparsity"] == zeros / 270_896
    assert on_disk["params/total"] == 272_474 and on_disk["params/nonzero"] == 272_474 - zeros
    assert on_disk["macs/dense"] > 40e6 and on_disk["macs/nonzero"] < 0.5 * on_disk["macs/dense"]
    # Chance is 0.10; with 1,000 test images its standard deviation is about 0.01.
    assert on_disk["test/acc"] > 0.16, on_disk
    assert (run_dir / "metrics.csv").is_file() and (run_dir / "checkpoints/last.ckpt").is_file()


def test_same_seed_same_run(run_prunelab, tmp_path):
    first, dir_a = run_prunelab(["seed=3"], run_dir=tmp_path / "a")
    second, dir_b = run_prunelab(["seed=3"], run_dir=tmp_path / "b")
    third, _ = run_prunelab(["seed=4"], run_dir=tmp_path / "c")
    assert first["test/loss"] == second["test/loss"] and first["test/acc"] == second["test/acc"]
    assert first["test/loss"] != third["test/loss"]
    weights_a = torch.load(dir_a / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    weights_b = torch.load(dir_b / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_command_line_run_writes_the_contract(tmp_path):
    args = [
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "data.batch_size=16",
        "trainer.progress_bar=false",
        "pruning=global_magnitude",
        "pruning.sparsity=0.5",
        f"hydra.run.dir={tmp_path}",
    ]
    proc = run_cli(*args, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "test/acc" in proc.stdout  # the final results table
    for path in (".hydra/config.yaml", "metrics.csv", "checkpoints/last.ckpt", "results.json"):
        assert (tmp_path / path).is_file(), path
    assert list((tmp_path / "wandb").glob("offline-run-*")), "W&B should run offline here"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["sparsity"] == 0.5 and results["params/nonzero"] < results["params/total"]
    assert results["macs/nonzero"] < results["macs/dense"]


def test_imagenet_path_on_the_sample(run_prunelab, imagenet_sample):
    results, _ = run_prunelab(
        [
            "model=resnet18",
            "data=imagenet",
            f"data.root={imagenet_sample}",
            "data.batch_size=4",
            "data.num_workers=0",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1",
        ]
    )
    assert results["params/total"] == 11_689_512
    assert "test/acc_top5" in results and 0 <= results["test/acc"] <= results["test/acc_top5"]
    assert results["macs/dense"] > 1.8e9  # 224 px crops reach the network


def test_a_head_that_does_not_fit_the_data_is_refused(tmp_path):
    # The embedded set has 10 classes: a 100-class head is refused before training.
    from prunelab.config import compose
    from prunelab.errors import ConfigError
    from prunelab.train import train

    with pytest.raises(ConfigError, match="100"):
        train(compose(["data.num_classes=100"]), tmp_path)
    assert not (tmp_path / "checkpoints").exists()
