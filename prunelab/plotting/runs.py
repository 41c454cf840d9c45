"""The end-of-run figures of one run: kept fraction per layer, and figures against density.

Both draw their percent axes through `prunelab.plotting.style`: log scales labelled `5%` with
ticks fitted to the data, so a 98-99% sparse layer or a run ending at 1% density stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from prunelab.plotting import style

FLOOR = 1e-3  # percent: where a bar of an emptied layer ends on the log axis


class LayerFractions(dict):
    """Kept fraction per layer (a plain dict of floats) that also carries each layer's size, so
    one argument gives the bar chart both: `LayerFractions({"conv.weight": 0.1}, {"conv.weight":
    432})`."""

    def __init__(self, fractions: Mapping[str, float], sizes: Mapping[str, int]):
        super().__init__(fractions)
        self.sizes = {name: int(sizes[name]) for name in fractions}


def layer_density_bars(
    kept: Mapping[str, float], path: Path, title: str, what: str = "weights"
) -> Path:
    """Write `layer_density_figure` to `path`."""
    return style.save(layer_density_figure(kept, title, what), path, dpi=120)


def layer_density_figure(kept: Mapping[str, float], title: str, what: str = "weights") -> Figure:
    """A bar per layer: the fraction of its `what` (weights, channels) kept, on a log percent
    axis; each bar is annotated with its percentage, and each layer named with its size where
    `kept` is a `LayerFractions`."""
    names = list(kept)
    sizes = kept.sizes if isinstance(kept, LayerFractions) else None
    values = [max(100 * kept[n], FLOOR) for n in names]
    fig, ax = style.new_figure(max(6.4, 0.3 * len(names)), 4.6)
    ax.bar(range(len(names)), values, color=style.COLORS[0], width=0.75)
    for i, name in enumerate(names):
        ax.annotate(
            style.percent(float(f"{100 * kept[name]:.3g}")),
            (i, values[i]),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            rotation=90,
            fontsize=6,
        )
    labels = [n.removesuffix(".weight") for n in names]
    if sizes is not None:
        labels = [f"{label} ({sizes[n]:,})" for label, n in zip(labels, names)]
    ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=7)
    ax.set_xlim(-0.6, len(names) - 0.4)
    style.percent_log_axis(ax, [*values, 100.0], axis="y", invert=False)
    ax.set_ylim(top=ax.get_ylim()[1] * 2.5)  # room for the annotations above a full layer
    ax.set_xlabel(f"layer ({what})" if sizes is not None else "layer")
    ax.set_ylabel(f"{what} kept (% of the layer, log scale)")
    ax.set_title(title)
    return fig


def _draw(ax, series, scale: float, first_color: int, marker: str) -> list[float]:
    xs_all = []
    for i, (label, points) in enumerate(series.items()):
        ordered = sorted(points, reverse=True)
        xs = style.dodged([100 * d for d, _ in ordered], i, len(series))
        ax.plot(
            xs,
            [scale * v for _, v in ordered],
            marker=marker,
            ms=4,
            color=style.COLORS[(first_color + i) % len(style.COLORS)],
            label=label,
        )
        xs_all += [100 * d for d, _ in ordered]
    return xs_all


def accuracy_vs_density(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: Path,
    title: str,
    ylabel: str = "test accuracy (%)",
    dense: float | None = None,
    right: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    right_label: str = "",
) -> Path:
    """Write `density_figure` (same arguments but `path`) to `path`."""
    fig = density_figure(series, title, ylabel, dense, right, right_label)
    return style.save(fig, path, dpi=120)


def density_figure(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    ylabel: str = "test accuracy (%)",
    dense: float | None = None,
    right: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    right_label: str = "",
) -> Figure:
    """One line per series of (density, accuracy) points (fractions), accuracy in percent against
    the percentage of prunable weights remaining (log axis, dense on the left), with the dense
    network's accuracy `dense` as a dashed line. `right`'s series (another quantity, e.g. the PQ
    index) go on a twin y axis labelled `right_label`."""
    fig, ax = style.new_figure()
    shown = _draw(ax, series, 100.0, 0, "o")
    if dense is not None:
        ax.axhline(100 * dense, label="dense", **style.DENSE_STYLE)
    twin = None
    if right:
        twin = ax.twinx()
        shown += _draw(twin, right, 1.0, len(series), "s")
        twin.set_ylabel(right_label)
    style.percent_log_axis(ax, shown)
    ax.set_xlabel("remaining weights (% of prunable weights, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    style.legend(ax, *([twin] if twin is not None else []))
    return fig
