"""A diverged run fails: a non-finite loss stops training at once with one line naming the step
and the likely cause, exit status 3, and no results.json."""

import math
import re
from types import SimpleNamespace

import pytest
import torch
from cli_runs import TINY, run_cli

from prunelab.divergence import StopOnDivergence, advice, non_finite
from prunelab.errors import DivergenceError


def test_cli_stops_a_diverged_run_with_exit_3_and_no_results(tmp_path):
    proc = run_cli(*TINY, "logger=csv", "optim.lr=1e6", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 3, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"prunelab: error: training loss is (nan|-?inf) at step \d+ \(epoch 0\): the run "
        r"diverged; lower optim\.lr \(now 1e\+06\) or set trainer\.gradient_clip_val",
        last,
    ), last
    assert not (tmp_path / "results.json").exists()
    assert not (tmp_path / "checkpoints" / "interrupted.ckpt").exists()  # NaN weights: not kept


def fake_trainer(*, other_rank_bad=False, step=37, epoch=2):
    """What the callback reads of a trainer; `other_rank_bad` plays a DDP rank with a NaN loss."""

    def reduce_boolean_decision(decision, all=True):
        assert not all  # any rank's NaN stops every rank
        return decision or other_rank_bad

    strategy = SimpleNamespace(reduce_boolean_decision=reduce_boolean_decision)
    return SimpleNamespace(global_step=step, current_epoch=epoch, strategy=strategy)


@pytest.mark.parametrize("outputs", [torch.tensor(2.3), {"loss": torch.tensor(2.3)}, None])
def test_finite_loss_passes(outputs):
    StopOnDivergence(lr=0.1).on_train_batch_end(fake_trainer(), None, outputs, None, 0)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_loss_names_step_epoch_and_settings(value):
    callback = StopOnDivergence(lr=0.5, clip=1.0)
    message = rf"training loss is {value} at step 37 \(epoch 2\): the run diverged; lower optim\.lr"
    with pytest.raises(DivergenceError, match=message) as info:
        callback.on_train_batch_end(fake_trainer(), None, {"loss": torch.tensor(value)}, None, 0)
    assert str(info.value).endswith("lower optim.lr (now 0.5) or trainer.gradient_clip_val (now 1)")


def test_every_rank_stops_when_one_rank_diverges():
    trainer = fake_trainer(other_rank_bad=True)
    with pytest.raises(DivergenceError, match="not finite on another rank at step 37"):
        StopOnDivergence().on_train_batch_end(trainer, None, torch.tensor(1.0), None, 0)


def test_non_finite_picks_nan_and_infinite_figures_only():
    figures = {"test/acc": 0.5, "test/loss": math.nan, "final/val/loss": torch.tensor(math.inf)}
    assert non_finite({**figures, "stages": [], "params/total": 10}) == {
        "test/loss": figures["test/loss"],
        "final/val/loss": math.inf,
    }
    assert advice(None, None) == "lower optim.lr or set trainer.gradient_clip_val"
