"""Combinations of parts that no preset uses reach their exact target with pruned weights zero,
and a combination without meaning is refused in one line (exit 2) before any data is read."""

from __future__ import annotations

import pytest
from cli_runs import run_cli
from omegaconf import OmegaConf
from test_composition import fit

from prunelab import composition
from prunelab.callbacks import LevelPruning, PruningMethod
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.precheck import check_keys
from prunelab.pruning.allocation import keep_total

N = 8 * 3 * 9 + 8 * 8 * 9 + 8 * 4  # tiny_net's prunable weights: 824

# overrides -> weights kept at the end, keep_total(N, sparsity) (3 epochs x 4 steps, or the levels)
COMBINATIONS = {
    "random rule, cubic schedule": (
        ["pruning=gmp", "pruning/rule=random", "pruning.sparsity=0.75", "pruning.frequency=2"],
        keep_total(N, 0.75),
    ),
    "random rule, cubic, regrowth": (
        ["pruning=granet", "pruning/rule=random", "pruning.sparsity=0.75", "pruning.frequency=2"],
        keep_total(N, 0.75),
    ),
    "magnitude ERK allocation, cubic, regrowth": (
        ["pruning=gmp", "pruning/after=regrow", "pruning.allocation=erk", "pruning.sparsity=0.8"]
        + ["pruning.frequency=3"],
        keep_total(N, 0.8),
    ),
    "random rule, levels, LR rewinding": (
        ["pruning=imp", "pruning/rule=random", "pruning.rewind=lr", "pruning.levels=2"]
        + ["pruning.epochs_per_level=1", "pruning.fraction=0.5"],
        keep_total(N, 0.75),
    ),
    "magnitude ERK allocation, levels, fine-tuning": (
        ["pruning=lth", "pruning/after=finetune", "pruning.allocation=erk", "pruning.levels=2"]
        + ["pruning.epochs_per_level=1", "pruning.fraction=0.5"],
        keep_total(N, 0.75),
    ),
}


def build(overrides: list[str]):
    node = OmegaConf.to_container(compose(overrides).pruning, resolve=True)
    node.pop("name")
    return composition.build(node)


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_a_combination_no_preset_uses_reaches_its_exact_target(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    overrides, kept = COMBINATIONS[name]
    method = build(overrides)
    assert type(method) in (PruningMethod, LevelPruning)  # no named method binds these parts
    history, weights = fit(method)
    final = history[-1]
    assert sum(int(m.sum()) for m in final.values()) == kept
    for name_, mask in final.items():  # pruned weights are zero at the end
        key = name_.removeprefix("network.")
        assert (weights[key][~mask] == 0).all()


CONFLICTS = [
    (
        ["pruning=global_magnitude", "pruning/after=regrow"],
        "pruning/after=regrow",
        "pruning/schedule=one_shot",
    ),
    (["pruning=snip", "pruning/after=rewind"], "pruning/rule=snip", "pruning/after=rewind"),
    (["pruning=gmp", "pruning/after=rewind"], "pruning/after=rewind", "pruning/schedule=cubic"),
    (["pruning=snip", "pruning/schedule=cubic"], "pruning/rule=snip", "pruning/schedule=cubic"),
]


@pytest.mark.parametrize(("overrides", "first", "second"), CONFLICTS)
def test_a_conflicting_pair_is_refused_naming_both_parts(overrides, first, second):
    with pytest.raises(ConfigError) as refused:
        check_keys(overrides)
    assert first in str(refused.value) and second in str(refused.value)
    with pytest.raises(ConfigError, match="does not combine"):
        build(overrides)  # the same refusal when the config comes from elsewhere


def test_a_conflict_exits_2_in_one_line_before_any_data_is_read(tmp_path):
    missing = tmp_path / "no-such-dataset"  # reading it would fail with another message
    proc = run_cli(
        "pruning=gmp", "pruning/after=rewind", "data=imagefolder", f"data.root={missing}",
        f"paths.runs_dir={tmp_path}",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "prunelab: error: pruning/after=rewind does not combine with pruning/schedule=cubic: "
        "rewinding happens between the trainings of schedule=levels"
    ]
    assert not any(tmp_path.rglob("results.json"))


def test_a_sweep_over_parts_is_checked_option_by_option():
    check_keys(["pruning=gmp", "pruning/rule=magnitude,random", "pruning.rule.seed=3"])
    with pytest.raises(ConfigError, match="pruning/after=rewind does not combine"):
        check_keys(["pruning=gmp", "pruning/after=finetune,rewind"])
    with pytest.raises(ConfigError, match="pruning/after=regrw is not one of"):
        check_keys(["pruning=gmp", "pruning/after=finetune,regrw"])


def test_the_target_is_honoured_or_refused():
    own = build(["pruning=gmp", "pruning._target_=builtins.dict"])  # a user's own callback
    assert isinstance(own, dict) and own["sparsity"] == 0.9 and "rule" not in own
    with pytest.raises(ConfigError, match="is not a IterativeMagnitudePruning"):
        build(["pruning=imp", "pruning._target_=prunelab.callbacks.GlobalMagnitudePruning"])
    with pytest.raises(ConfigError, match="pattern=2:4 needs pruning/schedule=one_shot"):
        build(["pruning=gmp", "pruning.pattern=2:4", "pruning.sparsity=0.5"])
