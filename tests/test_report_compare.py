"""prunelab-report --compare A B: clear/ahead/behind at each shared sparsity by the rule
mean(A) - std(A) > mean(B) + std(B) (sample std, 0 with one seed), the verdict per pair, the
files, and a name that matches no group or several refused."""

import csv
import json
import statistics

import pytest
import yaml

from prunelab.reporting import Row, main
from prunelab.reporting.compare import (
    AHEAD,
    BEHIND,
    CLEAR,
    NOT,
    PARTLY,
    REPRODUCED,
    compare,
    outcome,
    verdict,
)

SPARSITY = (0.0, 0.2, 0.36)
# Test accuracy per control, per seed, per level (hand-made so each outcome occurs).
ACCS = {
    "none": [(0.91, 0.92, 0.90), (0.93, 0.93, 0.90)],  # means .92 .925 .90, stds .014 .007 0
    "random_prune": [(0.90, 0.85, 0.91), (0.92, 0.86, 0.93)],  # means .91 .855 .92
    "random_reinit": [(0.80, 0.80, 0.895, 0.5)],  # one seed (std 0), and a level none lacks
}
NONE, PRUNE, REINIT = (f"imp (pruning.control={c})" for c in ACCS)


def make_run(folder, seed, control, accs):
    (folder / ".hydra").mkdir(parents=True)
    config = {"seed": seed, "pruning": {"name": "imp", "control": control}}
    (folder / ".hydra/config.yaml").write_text(yaml.safe_dump(config))
    sparsity = [*SPARSITY, 0.488]
    stages = [{"stage": i, "sparsity": sparsity[i], "test/acc": a} for i, a in enumerate(accs)]
    results = {"test/acc": accs[-1], "sparsity": sparsity[len(accs) - 1], "stages": stages}
    (folder / "results.json").write_text(json.dumps(results))


@pytest.fixture
def runs(tmp_path):
    for control, seeds in ACCS.items():
        for seed, accs in enumerate(seeds):
            make_run(tmp_path / "runs" / control / str(seed), seed, control, accs)
    return tmp_path / "runs"


def test_outcome_and_verdict_on_hand_made_numbers():
    assert outcome(0.92, 0.01, 0.90, 0.005) == CLEAR  # 0.91 > 0.905
    assert outcome(0.92, 0.01, 0.90, 0.015) == AHEAD  # 0.91 < 0.915, means still ahead
    assert outcome(0.90, None, 0.90, None) == BEHIND  # a tie is not ahead
    assert outcome(0.901, None, 0.90, None) == CLEAR  # one seed each: std 0
    assert outcome(0.80, 0.0, 0.90, 0.2) == BEHIND
    assert verdict([CLEAR, CLEAR]) == REPRODUCED
    assert verdict([AHEAD, AHEAD]) == verdict([CLEAR, AHEAD]) == verdict([CLEAR, BEHIND]) == PARTLY
    assert verdict([AHEAD, BEHIND]) == verdict([BEHIND]) == verdict([]) == NOT


def test_compare_pairs_at_shared_sparsities_with_verdicts(runs, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(runs), "--out", str(out), "--by", "pruning.control"]
    argv += ["--compare", NONE, PRUNE, "--compare", "imp (pruning.control=n", REINIT]
    assert main([*argv, "--compare", REINIT, NONE]) == 0
    with (out / "report_compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    found = [(r["a"], r["b"], float(r["target_sparsity"]), r["outcome"]) for r in rows]
    assert found == [  # level 0 (dense for all three, NONE ahead of PRUNE there) left out
        (NONE, PRUNE, 0.2, CLEAR),
        (NONE, PRUNE, 0.36, BEHIND),
        (NONE, REINIT, 0.2, CLEAR),  # a prefix names its one group; 0.488 is REINIT's alone
        (NONE, REINIT, 0.36, CLEAR),  # 0.90 - 0 > 0.895 + 0: one seed counts as std 0
        (REINIT, NONE, 0.2, BEHIND),
        (REINIT, NONE, 0.36, BEHIND),
    ]
    assert [r["verdict"] for r in rows] == [PARTLY] * 2 + [REPRODUCED] * 2 + [NOT] * 2
    for row in rows:  # the numbers written obey the rule they are labelled with
        a, b = (float(row[f"{s}_test/acc_mean"]) for s in "ab")
        sa, sb = (float(row[f"{s}_test/acc_std"] or 0) for s in "ab")
        assert (row["outcome"] == CLEAR) == (a - sa > b + sb)
        assert (row["outcome"] == BEHIND) == (a <= b)
    assert rows[1]["a_test/acc_std"] == "0.0" and rows[3]["b_test/acc_std"] == ""
    assert (rows[0]["a_runs"], rows[2]["b_runs"]) == ("2", "1")
    lines = [f"{NONE} vs {PRUNE}: partly (1 of 2 clear)", f"{REINIT} vs {NONE}: not reproduced"]
    printed = capsys.readouterr().out
    assert lines[0] in printed and f"{lines[1]} (0 of 2 clear)" in printed
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("| method | pruning.control | target sparsity |")  # kept
    assert f"| {NONE} | {PRUNE} | 0.2 | 80.00% | 92.50 ± 0.71 | 85.50 ± 0.71 | clear |" in markdown
    assert f"- {lines[0]}" in markdown and "mean(A) - std(A) > mean(B) + std(B)" in markdown
    assert main(argv[:5]) == 0  # the same folder without --compare: no stale comparison left
    assert not (out / "report_compare.csv").exists()
    assert "mean(A) - std(A)" not in (out / "report.md").read_text()


def test_groups_sharing_only_the_dense_point_are_compared_there():
    def row(method, target, accs):
        mean, std = {"test/acc": statistics.fmean(accs)}, {"test/acc": statistics.stdev(accs)}
        return Row(method, (), target, (0, 1), mean, std)

    rows = [row("none", 0.0, [0.90, 0.91]), row("wide", 0.0, [0.95, 0.96])]
    rows.append(row("wide", 0.5, [0.5, 0.5]))  # not in "none": not compared
    (found,) = compare(rows, [("wide", "none")])
    assert [(a.target, b.target, o) for a, b, o in found.points] == [(0.0, 0.0, CLEAR)]
    assert found.verdict == REPRODUCED


def test_a_name_matching_no_group_or_several_is_refused(runs, tmp_path, capsys):
    out = tmp_path / "out"
    base = [str(runs), "--out", str(out), "--by", "pruning.control", "--compare"]
    for pair, says in (
        (["imp", PRUNE], "--compare 'imp' matches 3 groups"),
        ([NONE, "gmp"], "--compare 'gmp' matches no groups"),
        ([NONE, NONE[:-2]], f"--compare '{NONE}' '{NONE[:-2]}': both name the group '{NONE}'"),
    ):
        assert main(base + pair) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"prunelab-report: error: {says}") and err.count("\n") == 1
        listed = f"; the groups are '{NONE}', '{PRUNE}', '{REINIT}'\n"
        assert err.endswith(listed) or "both name" in says
    assert not out.exists()  # refused before anything was written
