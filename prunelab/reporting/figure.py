"""The standard pruning figure: test accuracy against remaining weights, one line per method."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from prunelab.plotting import style
from prunelab.reporting.summary import Row


def accuracy_figure(rows: Sequence[Row], path: Path, title: str | None = None) -> Path:
    """Write `draw_accuracy(rows, title)` to `path` (its suffix names the format)."""
    return style.save(draw_accuracy(rows, title), path)


def draw_accuracy(rows: Sequence[Row], title: str | None = None) -> Figure:
    """Draw mean test accuracy (error bars: std over seeds) against the percentage of prunable
    weights remaining, on a log axis fitted to the data, from dense (left) to sparse (right).

    A method with a single, dense point (the `none` baseline) is a dashed horizontal line with
    its std as a band, so every pruned curve can be read against it. Methods sharing a sparsity
    are dodged a little apart; legend labels drop `key=None` parts.
    """
    lines: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if "test/acc" in row.mean and row.density:
            lines[row.label].append(row)
    fig, ax = style.new_figure()
    curves = [label for label, members in lines.items() if not _dense_only(members)]
    shown = []
    for color, (label, members) in zip(style.COLORS * 10, lines.items()):
        members.sort(key=lambda r: -r.density)
        xs = [100 * r.density for r in members]
        ys = [100 * r.mean["test/acc"] for r in members]
        errs = [100 * (r.std.get("test/acc") or 0.0) for r in members]
        if _dense_only(members):
            ax.axhline(ys[0], color=color, linestyle="--", linewidth=1.2, label=label)
            ax.axhspan(ys[0] - errs[0], ys[0] + errs[0], color=color, alpha=0.15)
            continue
        shown += xs
        xs = style.dodged(xs, curves.index(label), len(curves))
        ax.errorbar(xs, ys, yerr=errs, color=color, marker="o", ms=4, capsize=3, label=label)
    style.percent_log_axis(ax, shown or [100.0])
    ax.set_xlabel("remaining weights (% of prunable weights, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "test accuracy against remaining weights (mean ± std over seeds)")
    style.legend(ax, outside=True)  # beside the axes: long split labels would hide the curves
    return fig


def _dense_only(members: Sequence[Row]) -> bool:
    return len(members) == 1 and members[0].density == 1.0
