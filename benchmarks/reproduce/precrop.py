"""Claim 5: PreCropping against unstructured SNIP at the same parameter count: accuracy, speed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reproduce.budgets import Budget, training_text
from reproduce.stats import NOT, PARTLY, REPRODUCED
from reproduce.tables import Runs, final, pct, points, table

STATEMENT = (
    "PreCropping (a physically narrower dense network with SNIP's per-layer densities) matches "
    "unstructured SNIP at the same parameter count within about a point, and is measurably faster."
)
SNIP_GAP_POINTS = 1.0  # |PreCropping - SNIP| in accuracy points
FASTER = 1.1  # training-step speedup that counts as measurably faster


def count(s: Mapping[str, Any] | None) -> str:
    return "" if s is None else f"{s['mean']:,.0f}"


def ratio(a: Mapping | None, b: Mapping | None) -> float | None:
    return None if not a or not b or not b["mean"] else a["mean"] / b["mean"]


def protocol(b: Budget) -> str:
    return (
        "ResNet-20, OpenLTH's recipe. SNIP at density "
        + ", ".join(f"{d:g}" for d in b.precrop_densities)
        + " (global |w x g| on 4 training batches, masks fixed) against PreCropping with SNIP's "
        "per-layer densities at the same budget of prunable weights (sqrt rule for channels, fresh "
        f"init). Speed: {b.speed_reps} interleaved timed repetitions per density (after 2 "
        f"warm-ups), one thread. {training_text(b)}."
    )


def analyse(runs: Runs, speed: Mapping[str, Mapping[str, float]], densities: Sequence[float]):
    rows, matches, faster = [], [], []
    for d in densities:
        snip, crop = f"claim5/snip_d{d:g}", f"claim5/precrop_d{d:g}"
        acc = {m: final(runs, c) for m, c in (("snip", snip), ("crop", crop))}
        params = {m: final(runs, c, "params/nonzero") for m, c in (("snip", snip), ("crop", crop))}
        wall = ratio(final(runs, snip, "wall_time_s"), final(runs, crop, "wall_time_s"))
        timing = speed.get(f"{d:g}", {})
        step = timing.get("speedup")
        if acc["snip"] and acc["crop"]:
            matches.append(abs(acc["crop"]["mean"] - acc["snip"]["mean"]) * 100 <= SNIP_GAP_POINTS)
        faster.append(step is not None and step >= FASTER and (wall or 0) > 1.0)
        ms = [
            f"{timing[k]:.1f}" if k in timing else ""
            for k in ("dense_train_ms", "cropped_train_ms")
        ]
        rows.append(
            [f"{100 * d:g}%", pct(acc["snip"]), pct(acc["crop"]), points(acc["crop"], acc["snip"])]
            + [count(params["snip"]), count(params["crop"]), *ms]
            + ["" if step is None else f"{step:.2f}x", "" if wall is None else f"{wall:.2f}x"]
        )
    matched = bool(matches) and len(matches) == len(densities) and all(matches)
    quick = bool(faster) and all(faster)
    verdict = REPRODUCED if matched and quick else PARTLY if matched or quick else NOT
    dense = final(runs, "dense/none")
    reason = (
        f"Accuracy within {SNIP_GAP_POINTS:g} point of SNIP at every density: "
        f"{'yes' if matched else 'no'}; "
        f"faster (step speedup >= {FASTER:g}x and a shorter whole run) at every density: "
        f"{'yes' if quick else 'no'}. Dense: {pct(dense)}%."
    )
    columns = ["density", "SNIP acc", "PreCropping acc", "PreCrop - SNIP (points)"]
    columns += [
        "SNIP nonzero params",
        "PreCrop params",
        "dense/SNIP step (ms)",
        "PreCrop step (ms)",
    ]
    columns += ["step speedup", "run wall-time ratio"]
    return {
        "claim": 5,
        "title": "PreCropping against SNIP",
        "statement": STATEMENT,
        "tables": [
            table(
                "Test accuracy (%) (mean ± std over seeds) at the same budget of prunable weights; "
                "parameters include BatchNorm and biases. Step times: median training step "
                "(batch 128, forward + backward + SGD) of the dense-width network SNIP trains "
                "against the seed-0 PreCropping network, interleaved repetitions; wall-time ratio: "
                "SNIP run / PreCropping run (whole runs, mean over seeds).",
                columns,
                rows,
            )
        ],
        "verdict": verdict,
        "rule": (
            f"Matches: |mean PreCropping - mean SNIP| <= {SNIP_GAP_POINTS:g} point at every "
            f"density. Faster: median training-step speedup >= {FASTER:g}x and the whole "
            "PreCropping run shorter than SNIP's, at every density. Reproduced: both; partly: one; "
            "not: neither."
        ),
        "reason": reason,
        "data": {"matches": matches, "faster": faster},
    }
