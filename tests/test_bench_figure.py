"""The bench figure, read from the matplotlib objects: one bar per (batch size, form other than
dense) at its measured speedup, a MAC-reduction tick over each bar, dense at 1; saved as a PNG
that reads back."""

import matplotlib.image
import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from prunelab.export.bench_figure import save_speed_figure, speed_figure

SPEEDUPS = {"dense": (1.0, 1.0), "checkpoint": (0.93, 0.97), "compact": (1.6, 1.84)}
MAC_REDUCTION = {"dense": 1.0, "checkpoint": 1.0, "compact": 1.88}
RECORD = {
    "device": "cpu",
    "threads": 1,
    "model": "VGG-16",
    "forms": {
        name: {
            "mac_reduction": MAC_REDUCTION[name],
            "batches": {"1": {"speedup": s1}, "64": {"speedup": s64}},
        }
        for name, (s1, s64) in SPEEDUPS.items()
    },
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_bars_are_the_speedups_and_ticks_the_mac_reductions():
    fig = speed_figure(RECORD, "inference speed")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    by_form = {}
    for container in ax.containers:
        by_form[container.get_label()] = [b.get_height() for b in container]
    assert by_form == {"checkpoint": [0.93, 0.97], "compact": [1.6, 1.84]}
    assert len(bars) == 4
    # each bar's tick spans that bar at its form's MAC reduction
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = [(s[0][0], s[1][0], s[0][1]) for c in lines for s in c.get_segments()]
    for bar, form in zip(sorted(bars, key=lambda b: b.get_x()), ["checkpoint", "compact"] * 2):
        x = bar.get_x() + bar.get_width() / 2
        over = [y for left, right, y in segments if left < x < right]
        assert over == [pytest.approx(MAC_REDUCTION[form])]
    dense = [line for line in ax.get_lines() if line.get_label() == "dense"]
    assert [line.get_ydata()[0] for line in dense] == [1.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["batch 1", "batch 64"]
    legend = sorted(t.get_text() for t in ax.get_legend().get_texts())
    assert legend == ["MAC reduction", "checkpoint", "compact", "dense"]


def test_saved_figure_reads_back_as_an_image(tmp_path):
    path = save_speed_figure(RECORD, tmp_path / "plots")
    assert path == tmp_path / "plots" / "bench.png"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert list(tmp_path.joinpath("plots").iterdir()) == [path]  # no temporary left behind
