"""`pruning.stability=true`: IMP analyses each level's subnetwork at its rewind point during the
run, with the code of prunelab-stability; each level's record in results.json `stages` holds its
barrier and distances (as its stability/level<L>.json and the level metrics do), identical copies
give barrier 0 and distance 0, an interrupted run does not analyse a level twice, the run itself
trains as without the analysis, and the copies resume the level's LR schedule at the rewind step."""

import csv
import json

import matplotlib.image
import pytest
import torch
from hydra.utils import instantiate

from prunelab.callbacks.level_stability import level_stability, stability_file
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.export.checkpoint import read_checkpoint, restore_network
from prunelab.module import Classifier
from prunelab.stability import alphas, interpolate
from prunelab.stability.cli import compose as compose_stability
from prunelab.stability.copies import Length, Resume, train_copy
from prunelab.stability.level import level_start
from prunelab.stability.run import stability
from prunelab.train import train

# A ResNet-8, 2 levels of 1 epoch of 2 steps, rewinding to step 1: the level's LR schedule spans
# 2 steps (multistep x0.1 at steps 1 and 2) and a level starts it at step 1.
RUN = (
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=32",
    "logger=csv",
    "model.depth=8",
    "pruning=imp",
    "pruning.levels=2",
    "pruning.epochs_per_level=1",
    "pruning.rewind=step:1",
    "pruning.stability=true",
)
KEYS = ("stability/barrier", "stability/distance/copies", "stability/error_a")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("imp")
    return run_dir, train(compose(RUN), run_dir)


def metrics(run_dir, column: str) -> dict[int, float]:
    """step -> the value of `column` in a run's metrics.csv, where logged."""
    with open(run_dir / "metrics.csv", newline="") as file:
        return {int(r["step"]): float(r[column]) for r in csv.DictReader(file) if r.get(column)}


def test_each_level_record_holds_its_analysis_as_its_file_says(analysed):
    run_dir, results = analysed
    dense, *levels = results["stages"]
    assert not any(key.startswith("stability/") for key in dense)  # level 0: nothing to analyse
    assert [s["stage"] for s in levels] == [1, 2]
    for stage in levels:
        saved = json.loads(stability_file(run_dir, stage["stage"]).read_text())
        errors = saved["errors"]
        assert saved["level"] == stage["stage"] and saved["alphas"] == alphas(11)
        assert stage["stability/barrier"] == saved["barrier"]
        assert saved["barrier"] == max(errors) - (errors[0] + errors[-1]) / 2
        # bn=keep: the path's ends are the copies as trained, each tested on its own
        assert [errors[0], errors[-1]] == saved["copy_errors"]
        assert [stage["stability/error_a"], stage["stability/error_b"]] == saved["copy_errors"]
        assert stage["stability/distance/copies"] == saved["distance"]["copies"] > 0
        assert saved["sparsity"] == pytest.approx(stage["sparsity"])  # that level's masks
        assert (saved["lr_step"], saved["epochs"], saved["seeds"]) == (1, 1, [1, 2])
    logged = metrics(run_dir, "level/stability_barrier")  # the level metrics (CSV and W&B)
    assert list(logged.values()) == [s["stability/barrier"] for s in levels]
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    (kept,) = [s["stability"] for s in state["callbacks"].values() if "stability" in s]
    assert {k: v["barrier"] for k, v in kept.items()} == {
        "1": levels[0]["stability/barrier"],
        "2": levels[1]["stability/barrier"],
    }
    assert matplotlib.image.imread(run_dir / "plots" / "stability.png").shape[2] in (3, 4)


def test_a_level_analysed_in_the_run_equals_the_command_on_its_checkpoint(analysed, tmp_path):
    """The same code on the same start: `prunelab-stability level=2` reads level 2's rewind point
    back from the finished run and gets the figures the run recorded, bit for bit."""
    run_dir, results = analysed
    args = [f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", "level=2", "epochs=1"]
    found = stability(compose_stability([*args, "test_batches=1"]), tmp_path)
    saved = json.loads(stability_file(run_dir, 2).read_text())
    for key in ("errors", "copy_errors", "distance", "barrier", "lr_step", "sparsity"):
        assert found[key] == saved[key], key


def crash_at_epoch_2(self):
    if self.current_epoch == 2:  # after the callbacks' hooks: level 2 was analysed
        raise RuntimeError("simulated crash at the start of epoch 2")


def test_identical_copies_and_a_resumed_run_keep_the_saved_analysis(
    analysed, tmp_path, monkeypatch
):
    run_dir = tmp_path / "run"
    same = (*RUN, "pruning.stability_seeds=[3,3]")
    with monkeypatch.context() as patch:
        patch.setattr(Classifier, "on_train_epoch_start", crash_at_epoch_2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(compose(same), run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # from before level 2's analysis
    level2 = stability_file(run_dir, 2)
    written, stamp = level2.read_text(), level2.stat().st_mtime_ns
    results = train(compose([*same, f"ckpt_path={last}"]), run_dir)
    assert level2.stat().st_mtime_ns == stamp and level2.read_text() == written  # not redone
    for stage in results["stages"][1:]:
        assert stage["stability/barrier"] == 0 and stage["stability/distance/copies"] == 0
        assert stage["stability/error_a"] == stage["stability/error_b"]
    assert results["stages"][2]["stability/barrier"] == json.loads(written)["barrier"]
    # The run trains as it would without the analysis, whatever the copies' seeds.
    first = analysed[1]["stages"]
    assert [s["test/acc"] for s in results["stages"]] == [s["test/acc"] for s in first]


def test_copies_resume_the_level_schedule_at_the_rewind_step_and_keep_the_masks(analysed):
    """One SGD step moves the weights by lr x (the first batch's gradient + decay): a copy of
    level 2 at its rewind point put at step K moves factor(K) / factor(0) as far as one at step
    0, the ratio of the LRs the IMP run logged at the first step of level 1 (replayed from K = 1)
    and of level 0. Both copies, and the line between them, keep the level's pruned weights 0."""
    run_dir, _ = analysed
    last = run_dir / "checkpoints" / "last.ckpt"
    checkpoint = read_checkpoint(last)
    network = restore_network(checkpoint)
    state, masks = level_start(last, 2)
    network.load_state_dict(state)
    datamodule = instantiate(compose(RUN).data, _convert_="all")
    run = checkpoint.config
    copies = [
        train_copy(network, masks, datamodule, run, 5, Length(steps=1), Resume(step, 1))
        for step in (1, 0)
    ]
    moved = [torch.cat([(c[n] - state[n]).flatten() for n, _ in network.named_parameters()])
             for c in copies]  # fmt: skip
    lrs = metrics(run_dir, "lr")
    assert lrs[2] / lrs[0] == pytest.approx(0.1)  # level 1 starts at step 2, its schedule at 1
    assert float(moved[0].norm() / moved[1].norm()) == pytest.approx(lrs[2] / lrs[0], rel=1e-3)
    for point in (*copies, interpolate(*copies, 0.5, masks)):
        assert all(not point[n][~m].any() for n, m in masks.items())
        assert all(point[n][m].count_nonzero() > 0.9 * m.sum() for n, m in masks.items())


def test_settings_are_refused_in_one_line_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"stability_levels=\[0, 3\]: give levels among 1\.\.2"):
        level_stability(True, 2, [0, 3])
    with pytest.raises(ConfigError, match=r"stability_seeds=\[1\]: give two seeds"):
        level_stability(True, 2, None, [1])
    with pytest.raises(ConfigError, match="stability_bn=mean is not one of keep, recompute"):
        level_stability(True, 2, None, [1, 2], "mean")
    with pytest.raises(ConfigError, match="stability='yes' must be true or false"):
        level_stability("yes", 2)
    assert level_stability(True, 3, [3, 1]).levels == [1, 3]
    assert level_stability(False, 3, [7]).levels == []  # off: nothing analysed, nothing checked
    with pytest.raises(ConfigError, match="pruning.stability analyses each level's subnetwork"):
        train(compose([*RUN, "pruning/schedule=cubic", "pruning/after=finetune"]), tmp_path)
