"""MaskedTraining's reports: densities logged at every mask change, the layer-collapse warning,
the density bar chart at the end, and the sparsity/params/MACs figures of results.json."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from prunelab.models import CifarResNet
from prunelab.pruning.targets import prunable_parameters
from prunelab.results import measure

FAST = ("data.batch_size=8", "trainer.limit_val_batches=0", "test_after_fit=false")


def last_masks(run_dir):
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    (state,) = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "masks" in s]
    return state["masks"]


def test_every_mask_change_logs_total_and_per_layer_density(run_prunelab):
    """gmp updating at every optimizer step: one metrics.csv row per update, with the sparsity
    and every layer's density of the masks installed at that step."""
    _, run_dir = run_prunelab(["pruning=gmp", "pruning.frequency=1", "trainer.max_epochs=2", *FAST])
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("prune/sparsity")]
    masks = last_masks(run_dir)
    # Updates at steps 0 .. 7 (the last one before the last optimizer step), then masks stay.
    assert [int(r["step"]) for r in rows] == list(range(8))
    sparsities = [float(r["prune/sparsity"]) for r in rows]
    assert sparsities == sorted(sparsities) and sparsities[-1] == pytest.approx(0.9, abs=1e-5)
    n = sum(m.numel() for m in masks.values())
    assert sparsities[-1] == pytest.approx(1 - sum(int(m.sum()) for m in masks.values()) / n)
    for name, mask in masks.items():  # the last update's row holds the final densities
        assert float(rows[-1][f"prune/layer/{name}"]) == pytest.approx(float(mask.float().mean()))
    assert all(all(r[f"prune/layer/{k}"] for k in masks) for r in rows)


def test_collapse_warning_names_exactly_the_collapsed_layers(run_prunelab, monkeypatch):
    charts = []
    monkeypatch.setattr(
        "prunelab.callbacks.masked.layer_density_bars", lambda d, p, t: charts.append((d, p))
    )
    with pytest.warns(UserWarning, match="layer collapse") as caught:
        _, run_dir = run_prunelab(
            ["pruning=global_magnitude", "pruning.sparsity=0.98", "pruning.collapse_threshold=0.01"]
            + list(FAST)
        )
    masks = last_masks(run_dir)
    density = {n: float(m.float().mean()) for n, m in masks.items()}
    collapsed = {n for n, d in density.items() if d < 0.01}
    assert collapsed and collapsed != set(masks)  # layer3's 3x3 convs, not the others
    (message,) = [str(w.message) for w in caught if "layer collapse" in str(w.message)]
    named = set(message.split(" in ", 1)[1].split(", "))
    assert named == collapsed
    # The bar chart at fit end: the final per-layer densities, into <run dir>/plots/.
    ((densities, path),) = charts
    assert densities == pytest.approx(density) and list(densities) == list(masks)
    assert path == run_dir / "plots" / "layer_density.png"


def test_density_chart_is_a_png_in_plots(run_prunelab):
    _, run_dir = run_prunelab(["pruning=global_magnitude", *FAST])
    chart = run_dir / "plots" / "layer_density.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_json_counts_the_zero_weights(run_prunelab):
    results, run_dir = run_prunelab(["pruning=global_magnitude", "pruning.sparsity=0.8", *FAST])
    assert json.loads((run_dir / "results.json").read_text())["sparsity"] == results["sparsity"]
    masks = last_masks(run_dir)
    pruned = sum(int((~m).sum()) for m in masks.values())
    n = sum(m.numel() for m in masks.values())
    assert results["sparsity"] == pruned / n
    assert results["params/nonzero"] == results["params/total"] - pruned
    assert results["macs/nonzero"] < 0.5 * results["macs/dense"]


def test_macs_nonzero_drops_by_one_mac_per_zero_weight_per_output_position():
    torch.manual_seed(0)
    network = CifarResNet(depth=20, num_classes=10)
    dense = measure(network, (3, 32, 32))
    assert dense["macs/nonzero"] == dense["macs/dense"] and dense["sparsity"] == 0.0
    assert dense["params/nonzero"] == dense["params/total"]
    weights = prunable_parameters(network)
    with torch.no_grad():
        weights["conv1.weight"][:4].zero_()  # 4 x 3 x 3 x 3 weights, 32 x 32 outputs each
        weights["layer3.0.conv1.weight"][0, 0].zero_()  # 9 weights, 8 x 8 outputs (stride 2)
        weights["fc.weight"][0, :5].zero_()  # 5 weights, one output each
    sparse = measure(network, (3, 32, 32))
    assert dense["macs/dense"] - sparse["macs/nonzero"] == 108 * 32 * 32 + 9 * 8 * 8 + 5
    assert sparse["macs/dense"] == dense["macs/dense"]
    assert sparse["params/nonzero"] == dense["params/total"] - 122
    n = sum(p.numel() for p in weights.values())
    assert sparse["sparsity"] == 122 / n
    # Excluded layers are left out of the sparsity, not out of the parameter count.
    excluded = measure(network, (3, 32, 32), exclude=["fc.weight"])
    assert excluded["sparsity"] == 117 / (n - 640)
    assert excluded["params/nonzero"] == sparse["params/nonzero"]
