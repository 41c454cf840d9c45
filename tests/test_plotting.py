"""The figures' properties on synthetic data, read from the matplotlib objects (not pixels):
percent tick labels fitted to the data, labelled axes, a twin axis for a second quantity, a
dense reference, layer sizes, dodged points and legends without `None`."""

import json
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from callbacks.level_report import plot_levels
from prunelab.plotting import LayerFractions, density_figure, layer_density_figure, title
from prunelab.plotting.style import dodged, drop_none
from prunelab.reporting.figure import draw_accuracy
from prunelab.reporting.summary import Row, read_csv, write_csv

PERCENT = re.compile(r"^\d+(\.\d+)?%$")
STAGES = [  # an IMP/SAP-like run: dense round 0, then 80% -> 1.2% of the weights
    {"stage": i, "density": d, "test/acc": a, "pq_index": q}
    for i, (d, a, q) in enumerate(
        [
            (1.0, 0.91, 0.30),
            (0.8, 0.912, 0.28),
            (0.2, 0.90, 0.22),
            (0.05, 0.86, 0.15),
            (0.012, 0.7, 0.1),
        ]
    )
]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def tick_texts(fig, axis="x"):
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


def visible_ticks(fig, axis="x"):
    ax = fig.axes[0]
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    return [t for t in ticks if low <= t <= high]


def series(keys):
    return {k: [(s["density"], s[k]) for s in STAGES] for k in keys}


def test_density_figure_has_percent_ticks_fitted_to_the_data_and_a_dense_line():
    fig = density_figure(series(["test/acc"]), "IMP on CifarResNet-20 / cifar10", dense=0.91)
    ax = fig.axes[0]
    labels = tick_texts(fig)
    assert labels and all(PERCENT.match(t) for t in labels), labels  # no 10^x, no 6x10^-1
    shown = visible_ticks(fig)
    assert min(shown) >= 1.2 / 1.5 and max(shown) <= 100 * 1.5  # ticks span the data only
    assert ax.get_xlim()[0] > ax.get_xlim()[1] > 0  # inverted: dense on the left
    assert ax.get_xlim()[1] > 0.5  # fitted: ends near 1.2%, not at 0.01%
    assert ax.get_xlabel() and ax.get_ylabel() and "cifar10" in ax.get_title()
    dense = [line for line in ax.get_lines() if line.get_label() == "dense"]
    assert len(dense) == 1 and list(dense[0].get_ydata()) == pytest.approx([91.0, 91.0])
    assert len(fig.axes) == 1  # one quantity: no twin axis


def test_pq_index_goes_on_a_twin_axis_with_its_own_label(tmp_path):
    path = plot_levels(STAGES, ["test/acc"], tmp_path / "pq.png", "SAP", ["pq_index"], "PQ index")
    assert path.read_bytes()[:4] == b"\x89PNG"
    fig = density_figure(
        series(["test/acc"]), "SAP", right=series(["pq_index"]), right_label="PQ index"
    )
    assert len(fig.axes) == 2
    left, right = fig.axes
    assert right.get_ylabel() == "PQ index" and "accuracy" in left.get_ylabel()
    assert max(right.get_lines()[0].get_ydata()) == pytest.approx(0.30)  # not scaled by 100
    assert max(left.get_lines()[0].get_ydata()) == pytest.approx(91.2)  # accuracy in percent
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert legend == ["test/acc", "pq_index"]  # one legend for both axes


def test_layer_bars_name_sizes_and_read_high_sparsity_on_a_log_percent_axis():
    kept = LayerFractions(
        {"conv1.weight": 1.0, "l2.weight": 0.02, "fc.weight": 0.005},
        {"conv1.weight": 432, "l2.weight": 36864, "fc.weight": 640},
    )
    fig = layer_density_figure(kept, "GMP on vgg / cifar10")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = tick_texts(fig, "y")
    assert labels and all(PERCENT.match(t) for t in labels), labels
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == ["conv1 (432)", "l2 (36,864)", "fc (640)"]
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["100%", "2%", "0.5%"]  # each bar's share written on it
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx([100.0, 2.0, 0.5])
    assert ax.get_ylim()[0] < 0.5 and "kept" in ax.get_ylabel()
    channels = layer_density_figure(LayerFractions({"c": 0.5}, {"c": 64}), "t", what="channels")
    assert "channels" in channels.axes[0].get_ylabel()
    assert "density" not in channels.axes[0].get_ylabel()


def row(method, density, acc, split=()):
    return Row(method, split, 1 - density, (0,), {"test/acc": acc, "sparsity": 1 - density}, {})


def test_report_figure_fits_x_to_the_pruned_points_dodges_and_drops_none():
    rows = [
        row("none", 1.0, 0.9, (("pruning.allocation", None),)),
        *(row("gmp", d, 0.88, (("pruning.allocation", "erk"),)) for d in (0.05, 0.02, 0.01)),
        *(row("imp", d, 0.87, (("pruning.allocation", None),)) for d in (0.05, 0.02, 0.01)),
    ]
    fig = draw_accuracy(rows)
    ax = fig.axes[0]
    labels = tick_texts(fig)
    assert all(PERCENT.match(t) for t in labels) and "100%" not in labels  # data sit at 5-1%
    assert ax.get_xlim()[0] < 10
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["none", "gmp (pruning.allocation=erk)", "imp"]
    gmp, imp = (c.lines[0].get_xdata() for c in ax.containers)
    assert all(g != i for g, i in zip(gmp, imp))  # same sparsity, side by side
    assert all(abs(g / i - 1) < 0.06 for g, i in zip(gmp, imp))  # ... but close to it


def test_dodge_keeps_the_middle_and_none_is_dropped_from_labels():
    assert dodged([10.0], 1, 3) == [10.0]
    assert dodged([10.0], 0, 2)[0] < 10.0 < dodged([10.0], 1, 2)[0]
    assert drop_none("none (a=None, b=None)") == "none"
    assert drop_none("gmp (a=erk, b=None)") == "gmp (a=erk)"
    assert title("IMP", "CifarResNet-20", "cifar10") == "IMP on CifarResNet-20 / cifar10"
    assert title("IMP") == "IMP"


def test_committed_report_csv_draws_again_with_the_pq_index_on_a_twin_axis(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from reproduce.redraw import add_pq_index, draw_claim

    none, erk = (("pruning.allocation", None),), (("pruning.allocation", "erk"),)
    rows = [row("imp", d, 0.6, none) for d in (1.0, 0.64, 0.41)]
    rows += [row("pq_index", d, a, none) for d, a in ((1.0, 0.46), (0.85, 0.5), (0.76, 0.53))]
    rows += [row("gmp", 0.05, 0.5, erk)]
    write_csv(rows, tmp_path / "report.csv", ["pruning.allocation"])
    again = read_csv(tmp_path / "report.csv")
    assert [r.label for r in again] == [r.label for r in rows]
    for read, wrote in zip(again, rows):
        assert (read.target, read.mean) == (pytest.approx(wrote.target), pytest.approx(wrote.mean))
    pq = [{"mean": m, "std": 0.001} for m in (0.17, 0.12, 0.10)]
    summary = {"claim": 4, "title": "PQ", "protocol": "ResNet-20. SAP", "figure": "report.png"}
    (tmp_path / "summary.json").write_text(json.dumps({**summary, "data": {"pq": pq}}))
    fig = draw_accuracy(again)
    add_pq_index(fig, again, pq)
    left, right = fig.axes
    assert "PQ index" in right.get_ylabel() and "accuracy" in left.get_ylabel()
    (bars,) = right.containers
    assert list(bars.lines[0].get_ydata()) == pytest.approx([0.17, 0.12, 0.10])
    assert list(bars.lines[0].get_xdata()) == pytest.approx([100, 85, 76])
    assert draw_claim(tmp_path).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="3 SAP levels in report.csv but 2 PQ indices"):
        add_pq_index(draw_accuracy(again), again, pq[:2])


def test_titles_name_model_and_data_of_a_prunelab_run_and_only_the_method_otherwise():
    import pytorch_lightning as pl
    from torch import nn

    from prunelab.module import Classifier
    from prunelab.plotting import run_title

    config = {
        "model": {"_target_": "prunelab.models.CifarResNet", "depth": 20},
        "data": {"_target_": "prunelab.data.CIFARDataModule", "dataset": "cifar10"},
    }
    ours = Classifier(nn.Linear(2, 2), 2, {}, {}, run_config=config)
    assert run_title(ours, "IMP") == "IMP on CifarResNet-20 / cifar10"
    timm = {"model": {"_target_": "prunelab.models.timm_model", "arch": "resnet10t"}}
    assert run_title(Classifier(nn.Linear(2, 2), 2, {}, {}, run_config=timm), "GMP") == (
        "GMP on resnet10t"
    )
    assert run_title(pl.LightningModule(), "IMP") == "IMP"  # a user's own module


def test_a_narrow_density_range_still_gets_several_percent_ticks():
    fig = density_figure({"test/acc": [(1.0, 0.9), (0.8, 0.91), (0.64, 0.9)]}, "IMP")
    labels = tick_texts(fig)
    assert all(PERCENT.match(t) for t in labels), labels
    assert len(visible_ticks(fig)) >= 3 and {"100%", "80%", "64%"} <= set(labels)
