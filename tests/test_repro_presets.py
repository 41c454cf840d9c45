"""The reproduction's claims as sweep presets (conf/experiment/repro/): every sweep point composes
and builds its method; benchmarks/reproduce's commands (the presets, with a smaller budget's
differences) write exactly the runs it plans to read, each at the budget's size; the two stages
of claim 1 link each control to the IMP run of its own seed; and at a smoke budget `prunelab -m`
runs claim 1's two stages, the controls reading the IMP run's masks, and a rerun trains
nothing."""

from __future__ import annotations

import copy
import functools
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from cli_runs import run_python
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from prunelab.building import build_pruning
from prunelab.config import CHOICE_GROUPS, compose, config_dir
from prunelab.errors import ConfigError
from prunelab.pruning.mask_io import load_masks
from prunelab.resume import flatten
from prunelab.sweep import prepare_job
from prunelab.train import run_config
from prunelab.validate import check_overrides

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from reproduce.budgets import FULL, GPU  # noqa: E402
from reproduce.budgets import SMOKE as SMOKE_BUDGET  # noqa: E402
from reproduce.claims import CLAIMS, LEVELS, plan_stages, stage_tasks  # noqa: E402

CPU = ["dense", "claim1", "claim1_controls", "claim2", "claim2_mt", "claim3", "claim4", "claim5",
       "claim6"]  # fmt: skip
PARSER = OverridesParser.create()
# Keys that name folders or logging, not what a run computes.
FREE = ("name", "paths.", "logger.", "data.root", "model.init_from", "pruning.masks_from")


@functools.cache
def _composed(picks: tuple[str, ...]):
    return compose(list(picks))


def configured(overrides) -> DictConfig:
    """`compose(overrides)`, composing once per choice of config groups (Hydra's half a second
    per call adds up over a hundred sweep points): the other overrides are values, set as
    Hydra parses them."""
    picks = tuple(o for o in overrides if o.partition("=")[0] in CHOICE_GROUPS)
    cfg = copy.deepcopy(_composed(picks))
    for override in overrides:
        if override not in picks:
            parsed = PARSER.parse_overrides([override])[0]
            OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), merge=False)
    return cfg


def point(preset: str, *overrides: str) -> DictConfig:
    return configured([f"experiment={preset}", *overrides])


def grid(preset: str, *overrides: str) -> list[list[str]]:
    """The overrides of each of the preset's sweep points (its `hydra.sweeper.params`)."""
    params = point(preset, *overrides).hydra.sweeper.params
    axes = [[f"{key}={v}" for v in str(values).split(",")] for key, values in params.items()]
    return [list(p) for p in itertools.product(*axes)]


def job_dir(cfg) -> Path:
    return Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)


def computed(cfg) -> dict:
    """What a run computes: its resolved config less folders and logging."""
    flat = flatten(run_config(cfg))
    return {k: v for k, v in flat.items() if not k.startswith(FREE) and k not in FREE}


def test_every_repro_file_is_tested():
    folder = config_dir() / "experiment" / "repro"
    found = {p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml")}
    assert found == {"budget", "paper/scale", *CPU, *(f"paper/{name}" for name in CPU)}


def check_points(preset: str) -> list[list[str]]:
    """Every sweep point of `preset` composes, names its sweep, has a folder of its own under
    the claim's folder, and builds its method; returns the points."""
    points = grid(preset)
    assert {"seed=0", "seed=1"} <= {o for p in points for o in p}  # two replicates
    dirs = set()
    for overrides in points:
        cfg = point(preset, *overrides)
        assert cfg.hydra.job.name == cfg.name  # names the sweep and its SLURM jobs
        claim = preset.split("/")[-1].split("_")[0]  # claim1_controls writes beside claim1
        assert job_dir(cfg).parent == Path(cfg.paths.repro) / claim
        dirs.add(job_dir(cfg))
        if cfg.pruning.get("masks_from"):  # stage 2 before stage 1: refused, naming the key
            with pytest.raises(ConfigError, match="masks_from=.* lacks the masks of levels"):
                build_pruning(cfg.pruning)
        else:
            build_pruning(cfg.pruning)
    assert len(dirs) == len(points)
    return points


def stage_points(stage) -> list[list[str]]:
    """The sweep points of `stage`'s command: the preset's axes, the command line's in their
    place where it names one or sweeps (as Hydra's basic sweeper combines them)."""
    params = {k: str(v) for k, v in point(f"repro/{stage.preset}").hydra.sweeper.params.items()}
    fixed = []
    for override in stage.overrides:
        key, _, value = override.partition("=")
        if key in params or "," in value:
            params[key] = value
        else:
            fixed.append(override)
    axes = [[f"{key}={v}" for v in values.split(",")] for key, values in params.items()]
    return [[*fixed, *p] for p in itertools.product(*axes)]


@pytest.mark.parametrize("name", CPU)
def test_every_sweep_point_composes_and_builds_its_method(name):
    check_points(f"repro/{name}")


@pytest.mark.parametrize("budget", [SMOKE_BUDGET, FULL, GPU], ids=lambda b: b.name)
def test_the_reproductions_commands_make_exactly_its_planned_runs(budget):
    # benchmarks/reproduce runs each stage as `prunelab -m experiment=repro/<preset> <overrides>`
    # and reads the runs from the folders it plans: they are the folders the sweeps write, and
    # each run trains the budget's steps (at `full`, the presets as they are).
    for stage in plan_stages(CLAIMS, budget):
        tasks = stage_tasks(stage, budget)
        folders = set()
        for overrides in stage_points(stage):
            cfg = point(f"repro/{stage.preset}", *overrides, "paths.repro=/r")
            folder = job_dir(cfg).relative_to("/r").as_posix()
            task = next(t for t in tasks if t.folder == folder)
            folders.add(folder)
            assert cfg.trainer.limit_train_batches == budget.batches_per_epoch
            assert cfg.data.batch_size == budget.batch_size
            per_training = cfg.pruning.get("epochs_per_level") or cfg.trainer.max_epochs
            levels = cfg.pruning.get("levels") or 0
            assert task.steps == per_training * (levels + 1) * budget.batches_per_epoch
            assert task.seed == cfg.seed
        assert folders == {t.folder for t in tasks}, stage.name


def test_later_stages_read_the_earlier_stage_of_their_own_seed():
    for seed in (0, 1):
        imp = job_dir(point("repro/claim1", f"seed={seed}"))
        dense = job_dir(point("repro/dense", f"seed={seed}"))
        for control in ("random_reinit", "random_prune"):
            cfg = point("repro/claim1_controls", f"pruning.control={control}", f"seed={seed}")
            assert Path(cfg.pruning.masks_from) == imp
        for preset in ("claim2", "claim2_mt"):
            assert Path(point(f"repro/{preset}", f"seed={seed}").model.init_from) == (
                dense / "checkpoints" / "last.ckpt"
            )
    moved = point("repro/claim1_controls", "paths.repro=/elsewhere", "seed=1")
    assert moved.pruning.masks_from == "/elsewhere/claim1/none_seed1"


def test_claim6_compares_rewinding_to_init_with_claim1s_late_rewinding():
    late = computed(point("repro/claim6", "pruning.rewind=step:15", "seed=0"))
    assert late == computed(point("repro/claim1", "seed=0"))  # claim 1's IMP run, again
    rewinds = {o for p in check_points("repro/claim6") for o in p if o.startswith("pruning.rewind")}
    assert rewinds == {"pruning.rewind=init", "pruning.rewind=step:15"}


@pytest.mark.parametrize("name", CPU)
def test_paper_scale_trains_whole_epochs_of_the_same_arms(name):
    cpu, paper = grid(f"repro/{name}"), check_points(f"repro/paper/{name}")
    cfg = point(f"repro/paper/{name}", *paper[0])
    assert cfg.trainer.limit_train_batches is None
    per_training = cfg.pruning.get("epochs_per_level") or cfg.trainer.max_epochs
    assert per_training == (60 if name.startswith("claim2") else 160)  # claim 2: fine-tuning
    assert Path(cfg.paths.repro) != Path(point(f"repro/{name}").paths.repro)
    keys = lambda points: {o.partition("=")[0] for p in points for o in p}  # noqa: E731
    assert keys(paper) >= keys(cpu)  # the same arms (some at more sparsities)


SMOKE = (
    "data=cifar10_mini", "data.batch_size=16", "trainer.limit_train_batches=2",
    "trainer.limit_test_batches=1", "pruning.levels=1", "pruning.epochs_per_level=1",
    "pruning.rewind=step:1", "seed=0",
)  # fmt: skip
# Both stages as a user types them, in one process (one import of torch and Lightning).
TWO_STAGES = """
import sys
from prunelab.cli import main
overrides = sys.argv[1:]
for stage in ("repro/claim1", "repro/claim1_controls"):
    sys.argv = ["prunelab", "-m", f"experiment={stage}", *overrides]
    main()
"""


def test_claim1_runs_in_two_stages_and_is_then_done(tmp_path, capsys):
    runs = f"paths.runs_dir={tmp_path}"
    proc = run_python(["-c", TWO_STAGES, *SMOKE, runs])
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = tmp_path / "repro" / "claim1"
    assert sorted(p.name for p in root.iterdir()) == [
        "multirun.yaml", "none_seed0", "random_prune_seed0", "random_reinit_seed0",
    ]  # fmt: skip
    ticket = load_masks(root / "none_seed0" / "masks" / "level1.pt")
    reinit = load_masks(root / "random_reinit_seed0" / "masks" / "level1.pt")
    shuffled = load_masks(root / "random_prune_seed0" / "masks" / "level1.pt")
    assert ticket.keys() == reinit.keys() == shuffled.keys()
    assert all(torch.equal(ticket[k], reinit[k]) for k in ticket)  # the IMP run's own masks
    assert all(int(ticket[k].sum()) == int(shuffled[k].sum()) for k in ticket)  # its counts
    assert any(not torch.equal(ticket[k], shuffled[k]) for k in ticket)  # other positions
    results = json.loads((root / "none_seed0" / "results.json").read_text())
    assert [s["stage"] for s in results["stages"]] == [0, 1]
    # The same command again: the composed sweep point is the job that ran, and it is done.
    cfg = point("repro/claim1", *SMOKE, runs)
    assert job_dir(cfg) == root / "none_seed0"
    assert prepare_job(cfg, job_dir(cfg), run_config(cfg)) == results
    assert "done: " in capsys.readouterr().err


def test_the_command_line_accepts_presets_in_sub_folders_of_experiment_only():
    check_overrides(["experiment=repro/claim1,repro/paper/claim1"])
    with pytest.raises(ConfigError, match="experiment=repro/claim9 is not a known experiment"):
        check_overrides(["experiment=repro/claim9"])
    with pytest.raises(ConfigError, match="pruning=rule/magnitude is not a known pruning"):
        check_overrides(["pruning=rule/magnitude"])  # a part, not a method


# Every stage of the reproduction, each preset with the smallest budget its methods accept, as
# benchmarks/reproduce runs them (its overrides), in one process: one import of torch.
TINY = replace(
    SMOKE_BUDGET, seeds=(0,), batch_size=16, batches_per_epoch=2, epochs=2, finetune_epochs=1,
    test_batches=1, imp_levels=1, sap_levels=1, gradual_end_epoch=1, gradual_frequency=1,
)  # fmt: skip
STAGES = """
import json, sys
from prunelab.cli import main
common = sys.argv[1:]
for args in json.loads(common.pop(0)):
    sys.argv = ["prunelab", "-m", *args, *common]
    main()
"""


@pytest.mark.slow
def test_every_preset_runs_at_a_smoke_budget(tmp_path):
    stages = plan_stages(CLAIMS, TINY)
    commands = json.dumps([list(stage.args) for stage in stages])
    common = ["data=cifar10_mini", f"paths.repro={tmp_path}"]
    proc = run_python(["-c", STAGES, commands, *common], timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stage in stages:
        for task in stage_tasks(stage, TINY):
            results = json.loads((task.run_dir(tmp_path) / "results.json").read_text())
            assert 0.0 <= results["test/acc"] <= 1.0, task.key
            if stage.preset in (*LEVELS, "claim4"):  # IMP and SAP: level 0 and one level
                assert [r["stage"] for r in results["stages"]] == [0, 1], task.key
