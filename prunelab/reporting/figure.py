"""The standard pruning figure: test accuracy against remaining weights, one line per method."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from prunelab.atomic import atomic_write  # noqa: E402
from prunelab.reporting.summary import Row  # noqa: E402

TICKS = (100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)  # percent remaining


def accuracy_figure(rows: Sequence[Row], path: Path, title: str | None = None) -> Path:
    """Draw mean test accuracy (error bars: std over seeds) against the percentage of prunable
    weights remaining, on a log axis running from dense (left) to sparse (right).

    A method with a single, dense point (the `none` baseline) is a dashed horizontal line with
    its std as a band, so every pruned curve can be read against it.
    """
    lines: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if "test/acc" in row.mean and row.density:
            lines[row.label].append(row)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = plt.get_cmap("tab10").colors
    for color, (label, members) in zip(colors * 10, lines.items()):
        members.sort(key=lambda r: -r.density)
        xs = [100 * r.density for r in members]
        ys = [100 * r.mean["test/acc"] for r in members]
        errs = [100 * (r.std.get("test/acc") or 0.0) for r in members]
        if len(members) == 1 and members[0].density == 1.0:
            ax.axhline(ys[0], color=color, linestyle="--", linewidth=1.2, label=label)
            ax.axhspan(ys[0] - errs[0], ys[0] + errs[0], color=color, alpha=0.15)
        else:
            ax.errorbar(xs, ys, yerr=errs, color=color, marker="o", ms=4, capsize=3, label=label)
    ax.set_xscale("log")
    ax.invert_xaxis()
    shown = [100 * r.density for members in lines.values() for r in members]
    if shown:  # 1-2-5 ticks across the data, labelled as plain percentages
        ticks = [t for t in TICKS if min(shown) / 1.5 <= t <= max(shown) * 1.5]
        ax.set_xticks(ticks, minor=False)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(max(shown) * 1.15, min(shown) / 1.15)  # inverted; no point on an edge
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("remaining weights (% of prunable weights, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "test accuracy against remaining weights (mean ± std over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    if lines:  # beside the axes: labels split by `by` keys are long and would hide the curves
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    path = Path(path)
    atomic_write(
        path,
        lambda tmp: fig.savefig(tmp, format=path.suffix[1:] or "png", dpi=150, bbox_inches="tight"),
    )
    plt.close(fig)
    return path
