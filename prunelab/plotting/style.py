"""One look for every figure: percent axes with 1-2-5 ticks fitted to the data, dodged points,
legends without `None`, titles naming model, data and method, and atomic PNG files.

Every prunelab figure (the per-run plots and `prunelab-report`'s) draws its axes through this
module, so a change of style is one change.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

from prunelab.atomic import atomic_write  # noqa: E402

TICKS = (100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)  # percent, 1-2-5 steps
MARGIN = 1.15  # log-axis room beyond the outermost point, as a factor
DODGE = 1.025  # factor between the x of two series that share a point (log axis)
COLORS = plt.get_cmap("tab10").colors
DENSE_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1.1}


def percent(value: float, _position: object = None) -> str:
    """`12.5%`, `1%`, `0.05%`: a tick label for a value already in percent."""
    return f"{value:g}%"


def percent_log_axis(ax: Axes, shown: Sequence[float], axis: str = "x", invert: bool = True):
    """Make `axis` a log axis of percentages (values in percent) with 1-2-5 ticks spanning only
    `shown`, labelled `5%` rather than `5x10^0`; `invert` puts 100% on the left (x) or top (y).
    """
    which = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    values = [v for v in shown if v > 0]
    if values:
        low, high = min(values), max(values)
        ticks = [t for t in TICKS if low / MARGIN <= t <= high * MARGIN]
        if len(ticks) < 3:  # a narrow range (100% to 64%): the data's own values, 2 digits
            ticks = sorted({float(f"{v:.2g}") for v in values}, reverse=True)
            ticks = ticks[:: max(1, len(ticks) // 8)]
        which.set_major_locator(FixedLocator(ticks))
        limits = (high * MARGIN, low / MARGIN) if invert else (low / MARGIN, high * MARGIN)
        (ax.set_xlim if axis == "x" else ax.set_ylim)(*limits)
    which.set_major_formatter(FuncFormatter(percent))
    which.set_minor_formatter(NullFormatter())


def dodged(xs: Sequence[float], index: int, count: int) -> list[float]:
    """`xs` of series `index` of `count` shifted by a small factor, so that series sharing an x
    (two methods at one sparsity) sit side by side on a log axis; the middle series stays put."""
    factor = DODGE ** (index - (count - 1) / 2)
    return [x * factor for x in xs]


def drop_none(label: str) -> str:
    """A legend label without `key=None` parts: `none (pruning.allocation=None)` -> `none`."""
    head, sep, rest = label.partition(" (")
    if not sep:
        return label
    kept = [part for part in rest.removesuffix(")").split(", ") if not part.endswith("=None")]
    return f"{head} ({', '.join(kept)})" if kept else head


def legend(ax: Axes, *extra: Axes, outside: bool = False) -> None:
    """One legend for `ax` and its twins, `None` parts dropped; beside the axes if `outside`."""
    handles, labels = [], []
    for each in (ax, *extra):
        h, lab = each.get_legend_handles_labels()
        handles += h
        labels += [drop_none(text) for text in lab]
    if not handles:
        return
    if outside:
        ax.legend(
            handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False
        )
    else:
        ax.legend(handles, labels, fontsize=8, framealpha=0.85)


def title(method: str, model: str | None = None, data: str | None = None) -> str:
    """`method on model / data`, or the method alone where model and data are unknown."""
    where = " / ".join(part for part in (model, data) if part)
    return f"{method} on {where}" if where else method


def new_figure(width: float = 6.4, height: float = 4.2) -> tuple[Figure, Axes]:
    """A figure with one axes, light grid, small type."""
    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def save(fig: Figure, path: Path, dpi: int = 150) -> Path:
    """Write `fig` to `path` (its suffix names the format) atomically and close it."""
    path = Path(path)
    fmt = path.suffix[1:] or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))
    plt.close(fig)
    return path
