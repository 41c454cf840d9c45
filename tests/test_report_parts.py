"""prunelab-report splits and labels runs by the parts of a method they differ in, found from
their configs (no --by): the rule, schedule and after-pruning kinds and options, the structure."""

import csv
import json

import pytest
import yaml
from omegaconf import OmegaConf

from prunelab.reporting import main, report
from prunelab.reporting.parts import short

# A part's options as Hydra saves them: interpolations of the preset's flat keys, unresolved.
RULES = {
    "magnitude": {"kind": "magnitude", "allocation": "${oc.select:..allocation,global}"},
    "random": {"kind": "random", "allocation": "layerwise", "seed": "${oc.select:..seed,null}"},
}
CUBIC = {
    "kind": "cubic",
    "sparsity": "${oc.select:..sparsity,null}",
    "frequency": "${oc.select:..frequency,100}",
}


def gmp(rule="magnitude", sparsity=0.9, structure=None, **flat):
    parts = {"rule": RULES[rule], "schedule": CUBIC, "after": {"kind": "finetune"}}
    pruning = {"name": "gmp", "sparsity": sparsity, "allocation": "global", **flat, **parts}
    return pruning, structure or {"name": "none"}


def make_run(folder, seed, pruning, structure, acc):
    (folder / ".hydra").mkdir(parents=True)
    config = {"seed": seed, "pruning": pruning, "structure": structure}
    (folder / ".hydra/config.yaml").write_text(yaml.safe_dump(config))
    results = {"test/acc": acc, "sparsity": pruning.get("sparsity", 0.0), "stages": []}
    (folder / "results.json").write_text(json.dumps(results))


def rows(out):
    with (out / "report.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def rules(tmp_path):
    """gmp with the magnitude and the random rule, two seeds each, and a dense run."""
    root = tmp_path / "runs"
    for seed in (0, 1):
        make_run(root / f"magnitude/{seed}", seed, *gmp("magnitude"), 0.80 + seed / 100)
        make_run(root / f"random/{seed}", seed, *gmp("random"), 0.60 + seed / 100)
    make_run(root / "dense", 0, {"name": "none"}, {"name": "none"}, 0.9)
    return root


def test_two_rules_are_two_groups_labelled_by_their_kinds(rules, tmp_path, capsys):
    found = report([rules], tmp_path / "out")
    assert [r.label for r in found] == [
        "none (rule=None)",  # the figure's legend drops `=None` parts
        "gmp (rule=magnitude)",
        "gmp (rule=random)",
    ]
    by_rule = {r["pruning.rule.kind"]: r for r in rows(tmp_path / "out")}
    assert set(by_rule) == {"", "magnitude", "random"}
    assert float(by_rule["magnitude"]["test/acc_mean"]) == pytest.approx(0.805)
    assert float(by_rule["random"]["test/acc_mean"]) == pytest.approx(0.605)
    assert by_rule["random"]["runs"] == "2" and by_rule["random"]["seeds"] == "0 1"
    # The rule's allocation differs too (global, layerwise), but only with the kind: no column.
    assert "pruning.rule.allocation" not in by_rule["random"]
    assert "more than once" not in capsys.readouterr().err


def test_by_the_same_key_gives_the_same_groups_and_one_column(rules, tmp_path):
    assert main([str(rules), "--out", str(tmp_path / "by"), "--by", "pruning.rule.kind"]) == 0
    assert main([str(rules), "--out", str(tmp_path / "auto")]) == 0
    assert rows(tmp_path / "by") == rows(tmp_path / "auto")
    header = (tmp_path / "by/report.csv").read_text().splitlines()[0]
    assert header.startswith("method,pruning.rule.kind,target_sparsity,")


def test_an_option_splits_but_the_target_and_the_seed_do_not(tmp_path):
    for seed in (0, 1):
        for sparsity in (0.5, 0.9):
            make_run(tmp_path / f"f100/{sparsity}/{seed}", seed, *gmp(sparsity=sparsity), 0.8)
        make_run(tmp_path / f"f50/{seed}", seed, *gmp(frequency=50), 0.7)
        make_run(tmp_path / f"rand/{seed}", seed, *gmp("random", seed=seed + 7), 0.6)
    found = report([tmp_path], tmp_path / "out")
    assert [(r.label, r.target, r.runs) for r in found] == [
        ("gmp (rule=magnitude, schedule.frequency=100)", 0.5, 2),
        ("gmp (rule=magnitude, schedule.frequency=100)", 0.9, 2),
        ("gmp (rule=magnitude, schedule.frequency=50)", 0.9, 2),
        ("gmp (rule=random, schedule.frequency=100)", 0.9, 2),
    ]


def test_a_part_the_flat_by_key_already_splits_is_not_added_again(tmp_path):
    make_run(tmp_path / "g", 0, *gmp(), 0.8)
    make_run(tmp_path / "e", 0, *gmp(allocation="erk"), 0.7)  # rule.allocation follows: erk
    found = report([tmp_path], tmp_path / "by", ["pruning.allocation"])
    assert [r.label for r in found] == [f"gmp (pruning.allocation={a})" for a in ("erk", "global")]
    found = report([tmp_path], tmp_path / "auto")
    assert [r.label for r in found] == [f"gmp (rule.allocation={a})" for a in ("erk", "global")]


def test_the_structural_stage_splits_by_name_and_option_and_a_list_never(tmp_path):
    precrop = {"name": "precrop", "density": 0.5, "_target_": "prunelab.callbacks.PreCropping"}
    make_run(tmp_path / "plain", 0, *gmp(), 0.8)
    make_run(tmp_path / "half", 0, *gmp(structure={**precrop, "keep": ["conv1"]}), 0.7)
    make_run(tmp_path / "third", 0, *gmp(structure={**precrop, "density": 0.3, "keep": []}), 0.6)
    labels = [r.label for r in report([tmp_path], tmp_path / "out")]
    assert labels == [
        "gmp (structure=none, structure.density=None)",
        "gmp (structure=precrop, structure.density=0.3)",
        "gmp (structure=precrop, structure.density=0.5)",
    ]
    assert short("structure.name") == "structure" and short("pruning.after.to") == "after.to"
    assert short("pruning.allocation") == "pruning.allocation"


def test_the_composed_config_tree_names_the_parts_the_report_reads(tmp_path):
    """Configs as `prunelab -m pruning=gmp pruning/rule=magnitude,random` saves them."""
    from prunelab.config import compose

    for i, rule in enumerate(("magnitude", "random")):
        cfg = compose(["pruning=gmp", f"pruning/rule={rule}"])
        folder = tmp_path / str(i)
        (folder / ".hydra").mkdir(parents=True)
        node = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        (folder / ".hydra/config.yaml").write_text(OmegaConf.to_yaml(node))
        results = {"test/acc": 0.5 + i / 10, "sparsity": 0.9, "stages": []}
        (folder / "results.json").write_text(json.dumps(results))
    labels = [r.label for r in report([tmp_path], tmp_path / "out")]
    assert labels == ["gmp (rule=magnitude)", "gmp (rule=random)"]
