"""The end-of-run pictures (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from prunelab.atomic import atomic_write  # noqa: E402


def layer_density_bars(densities: Mapping[str, float], path: Path, title: str) -> Path:
    """A bar per prunable layer, its density (fraction of weights kept)."""
    names = list(densities)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(names)), 4.0))
    ax.bar(range(len(names)), [densities[n] for n in names], color="tab:blue")
    ax.set_xticks(
        range(len(names)), [n.removesuffix(".weight") for n in names], rotation=90, fontsize=7
    )
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("density (fraction kept)")
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path


def accuracy_vs_density(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: Path,
    title: str,
    ylabel: str = "test accuracy",
) -> Path:
    """One line per series of (density, accuracy) points, density on a log axis (reversed, so
    pruning proceeds to the right), as in the lottery-ticket papers."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for label, points in series.items():
        xs, ys = zip(*sorted(points, reverse=True)) if points else ((), ())
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("density (fraction of prunable weights remaining)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path
