"""The stability claim (claim 6) of the reproduction: its runs differ from claim 1's IMP run in the
rewind point only, and its verdict follows its rule on the measured barriers."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from reproduce import claims, document, redraw, stability  # noqa: E402
from reproduce.budgets import FULL  # noqa: E402


def test_the_init_runs_are_claim_1s_imp_runs_rewound_to_init():
    (stage,) = claims.claim_stages(6, FULL)
    assert stage.args == ("experiment=repro/claim6",)  # the preset's two rewind points
    init, late = (t for t in claims.stage_tasks(stage, FULL) if t.seed == 1)
    assert (init.folder, late.folder) == ("claim6/rewind_init_seed1", "claim6/rewind_step:15_seed1")
    assert {stability.CONFIGS[t.arm] for t in (late, init)} == {"init", "step K"}
    imp = next(t for t in claims.claim_tasks(1, FULL) if t.arm == "claim1/imp_rewind")
    assert init.steps == late.steps == imp.steps


def measured(init_barriers, late_barriers):
    runs = {
        name: [
            {"barrier": b, "copy_errors": [0.3, 0.32], "distance": {"copies": 40.0},
             "sparsity": 0.83, "errors": [0.3, 0.3 + b, 0.32]}
            for b in barriers
        ]
        for name, barriers in (("init", init_barriers), ("step K", late_barriers))
    }  # fmt: skip
    return {"level": 4, "budget": FULL.describe(), "rewind": stability.summarize(runs)}


def test_verdict_follows_the_rule():
    clear_and_stable = stability.claim_summary(measured([0.10, 0.12], [0.005, 0.007]), FULL)
    assert clear_and_stable["verdict"] == "reproduced"
    unstable_late = stability.claim_summary(measured([0.10, 0.12], [0.05, 0.03]), FULL)
    assert unstable_late["verdict"] == "partly"  # init clearly worse, but step K not under 2
    neither = stability.claim_summary(measured([0.03, 0.05], [0.04, 0.06]), FULL)
    assert neither["verdict"] == "not reproduced"
    barrier = clear_and_stable["data"]["rewind"]["init"]["barrier"]
    assert abs(barrier["mean"] - 11.0) < 1e-9 and barrier["n"] == 2  # points
    assert clear_and_stable["data"]["rewind"]["init"]["distance"]["mean"] == 40.0  # not scaled


def test_the_document_renders_the_claim_with_its_own_command(tmp_path):
    summary = stability.claim_summary(measured([0.10, 0.12], [0.005, 0.007]), FULL)
    summary.update(runs_done=4, runs_planned=4, run_hours=0.5, figure=None, machine="a GPU",
                   run_dirs=["claim6/rewind_init_seed0", "claim6/rewind_step:15_seed0"],
                   commands=["prunelab -m experiment=repro/claim6"])  # fmt: skip
    text = "\n".join(document.claim_section(summary, tmp_path, tmp_path, tmp_path))
    assert "`prunelab -m experiment=repro/claim6`, run by `python benchmarks/reproduce.py" in text
    assert "`claim6/rewind_init_seed{0}`, `claim6/rewind_step:15_seed{0}`" in text
    assert "finished on a GPU" in text and "**Verdict: reproduced.**" in text


def test_the_figure_draws_each_path_above_its_ends(tmp_path):
    summary = stability.claim_summary(measured([0.10, 0.12], [0.005, 0.007]), FULL)
    summary["figure"] = "report.png"
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    fig = redraw.path_figure(summary["data"])
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 3]
    assert len(lines) == 4  # two rewind points x two seeds
    # errors 30, 30 + 100 b, 32 (percent): the peak above the ends' mean 31 is max(1, 100 b - 1)
    peaks = sorted(max(line.get_ydata()) for line in lines)
    assert peaks == pytest.approx([1.0, 1.0, 9.0, 11.0])
    assert redraw.draw_claim(tmp_path) == tmp_path / "report.png"
    assert (tmp_path / "report.png").stat().st_size > 0
