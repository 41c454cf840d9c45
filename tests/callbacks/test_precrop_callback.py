"""PreCropping through real prunelab runs: the narrow network is what trains and what results.json
measures, and its checkpoint reloads (by hand with `apply_plan`, and through Lightning) to the
same test accuracy."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from prunelab.callbacks.precrop import PreCropping
from prunelab.errors import ConfigError
from prunelab.module import Classifier
from prunelab.network import build_network
from prunelab.pruning.channels import PLAN_KEY, apply_plan, layer_widths
from prunelab.pruning.precrop import plan_from_checkpoint
from prunelab.pruning.targets import prunable_parameters

PRECROP = ("pruning=precrop", "pruning.density=0.1", "pruning.batches=2", "model.shortcut=A")


def test_run_trains_the_narrow_network_and_its_checkpoint_reloads(run_prunelab):
    results, run_dir = run_prunelab(PRECROP)
    path = run_dir / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)  # plain data only
    plan = plan_from_checkpoint(path)
    assert plan is not None and PLAN_KEY in ckpt
    assert all(type(c) is int for c in plan["channels"].values())
    (state,) = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "plan" in s]
    assert state["plan"] == plan

    config = ckpt["prunelab_config"]
    full = build_network(OmegaConf.create(config["model"]))
    full_prunable = sum(p.numel() for p in prunable_parameters(full).values())
    weights = {k.removeprefix("network."): v for k, v in ckpt["state_dict"].items()}
    weights = {k: v for k, v in weights.items() if k in full.state_dict()}
    with pytest.raises(RuntimeError, match="size mismatch"):
        full.load_state_dict(weights)  # a full-width network is never silently filled
    network = apply_plan(full, plan)
    network.load_state_dict(weights)
    assert layer_widths(network) == plan["channels"]

    # results.json measures the narrow network, at the requested budget.
    assert results["params/total"] == sum(p.numel() for p in network.parameters())
    prunable = sum(p.numel() for p in prunable_parameters(network).values())
    assert prunable / full_prunable == pytest.approx(0.1, rel=0.03)
    assert results["precrop/params_kept"] == pytest.approx(prunable / full_prunable, abs=1e-12)
    assert 0.1 < results["precrop/macs_kept"] < 1.0  # early layers see more positions
    assert results["sparsity"] == 0.0  # dense: no zeros were needed to get there
    assert (run_dir / "plots" / "channels.png").is_file()
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert "precrop/channels/layer3.0.conv1" in header and "precrop/achieved" in header

    # The reloaded network scores exactly what the run reported on the same test batches.
    datamodule = instantiate(config["data"])
    datamodule.setup("test")
    correct = total = 0
    network.eval()
    with torch.no_grad():
        for i, (x, y) in enumerate(datamodule.test_dataloader()):
            if i == 2:  # trainer.limit_test_batches=2
                break
            correct += int((network(x).argmax(1) == y).sum())
            total += len(y)
    assert correct / total == pytest.approx(results["test/acc"], abs=1e-6)

    # Lightning evaluation of a fresh full-width module: the plan is applied before the weights.
    module = Classifier(build_network(OmegaConf.create(config["model"])), 10, {}, {})
    trainer = pl.Trainer(
        callbacks=[PreCropping(0.1)],
        logger=False,
        limit_test_batches=2,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir / "eval",
    )
    (tested,) = trainer.test(module, datamodule=datamodule, ckpt_path=path, verbose=False)
    assert tested["test/acc"] == pytest.approx(results["test/acc"], abs=1e-6)
    assert layer_widths(module.network) == plan["channels"]


@pytest.mark.parametrize(
    "args, match",
    [
        ({"density": 0.0}, "density"),
        ({"density": 1.5}, "density"),
        ({"density": 0.1, "source": "magnitude"}, "snip, synflow, erk, uniform, convex"),
        ({"density": 0.1, "budget": "flops"}, "params, macs"),
        ({"density": 0.1, "init": "zeros"}, "fresh, inherit"),
        ({"density": 0.1, "exponent": 0.0}, "exponent"),
        ({"density": 0.1, "batches": 0}, "batches"),
    ],
)
def test_bad_settings_are_refused_naming_the_choices(args, match):
    with pytest.raises(ConfigError, match=match):
        PreCropping(**args)
