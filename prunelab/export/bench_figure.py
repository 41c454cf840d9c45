"""The figure of a bench.json: measured speedup of each form against `dense` at each batch size,
with each form's MAC reduction drawn over its bar as the reference (what counting MACs promises).

One group of bars per batch size, one bar per form other than `dense` (whose speedup is 1 by
definition: the dashed line); a bar reaching its black tick converts all of its MAC reduction
into speed. `bench=true` saves it as `plots/bench.png` beside the run's other plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from prunelab.plotting import style

FILE = "bench.png"
WIDTH = 0.8  # of one batch-size group, shared by its bars
REFERENCE = {"color": "black", "linewidth": 2.0}


def speed_figure(record: Mapping[str, Any], title: str) -> Figure:
    """Bars of `speedup` per (batch size, form), MAC-reduction ticks over them, dense at 1."""
    forms = {name: e for name, e in record["forms"].items() if name != "dense"}
    batches = list(next(iter(record["forms"].values()))["batches"])
    fig, ax = style.new_figure()
    bar = WIDTH / max(1, len(forms))
    for i, (name, entry) in enumerate(forms.items()):
        xs = [b + (i - (len(forms) - 1) / 2) * bar for b in range(len(batches))]
        speedups = [entry["batches"][batch]["speedup"] for batch in batches]
        ax.bar(xs, speedups, width=bar * 0.9, color=style.COLORS[i % 10], label=name)
        ax.hlines(
            [entry["mac_reduction"]] * len(xs),
            [x - bar * 0.45 for x in xs],
            [x + bar * 0.45 for x in xs],
            label="MAC reduction" if i == 0 else None,
            **REFERENCE,
        )
    ax.axhline(1.0, label="dense", **style.DENSE_STYLE)
    ax.set_xticks(range(len(batches)), [f"batch {b}" for b in batches])
    ax.set_ylabel("speedup vs dense (x)")
    ax.set_title(title, fontsize=10)
    style.legend(ax, outside=True)
    return fig


def save_speed_figure(record: Mapping[str, Any], plots_dir: Path) -> Path:
    """Draw `record`'s figure and write it to `<plots_dir>/bench.png` (atomically)."""
    where = f"{record['device']}, {record['threads']} thread(s)"
    title = style.title(f"inference speed ({where})", record.get("model"))
    return style.save(speed_figure(record, title), Path(plots_dir) / FILE)
