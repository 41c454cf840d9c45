"""Bad configs are refused before any compute, with one line naming the value and what is valid."""

import pytest
from cli_runs import run_cli

from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.train import train
from prunelab.validate import check_overrides


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model=resnet21", "resnet20"),
        ("data=cifar11", "cifar10_mini"),
        ("pruning=lotery", "gmp"),
        ("quickstart=foo", "cifar10_mini_gmp"),  # chosen by config.yaml, but typed names too
    ],
)
def test_unknown_group_option_lists_valid_choices(override, named):
    with pytest.raises(ConfigError, match=override.split("=")[1]) as info:
        check_overrides([override])
    assert named in str(info.value)


def test_sweep_lists_are_checked_item_by_item():
    check_overrides(["model=resnet20,vgg11", "seed=0,1,2"])
    with pytest.raises(ConfigError, match="vgg12"):
        check_overrides(["model=resnet20,vgg12"])


def test_cli_prints_one_line_and_exits_2():
    proc = run_cli("model=resnet21", HYDRA_FULL_ERROR="0")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("prunelab: error: model=resnet21") and "resnet56" in lines[0]


def test_cli_refuses_out_of_range_number_before_training(tmp_path):
    proc = run_cli("optim.lr=-0.1", f"hydra.run.dir={tmp_path}", HYDRA_FULL_ERROR="0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "prunelab: error: optim.lr=-0.1 is out of range; valid: > 0"
    )
    assert not (tmp_path / "checkpoints").exists()  # nothing was trained


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_epochs=0"], "trainer.max_epochs=0"),
        (["data.batch_size=0"], "data.batch_size=0"),
        (["seed=-1"], "seed=-1"),
        (["optim.momentum=1.5"], "optim.momentum=1.5"),
        (["sched.milestones=[0.75,0.5]"], "sched.milestones"),
        (["pruning=gmp", "pruning.start_epoch=5", "pruning.end_epoch=2"], "pruning.end_epoch=2"),
        (["pruning=gmp", "pruning.end_epoch=50"], "trainer.max_epochs"),
        (["pruning=gmp", "pruning.allocation=random"], "global, layerwise, erk"),
        (["pruning=gmp", "pruning.exclude=[fc.wieght]"], "fc.wieght"),
        (["data=imagefolder", "data.root=/no/such/folder", "data.num_classes=3"], "/no/such"),
        (["model.init_from=/no/such.ckpt"], "/no/such.ckpt"),
        (["model.depth=7"], "depth must be"),  # refused by the constructor, inside instantiate
        # Hydra reads nan and inf as floats, which no range test refuses: a finiteness check does.
        (["optim.lr=nan"], "optim.lr=nan is not a finite number"),
        (["optim.lr=inf"], "optim.lr=inf is not a finite number"),
        (["optim.lr=-1"], "optim.lr=-1 is out of range"),
        (["optim.weight_decay=nan"], "optim.weight_decay=nan is not a finite"),
        (["optim.weight_decay=inf"], "optim.weight_decay=inf is not a finite"),
        (["optim.weight_decay=-1e-4"], "optim.weight_decay=-0.0001 is out of range"),
        (["optim.momentum=nan"], "optim.momentum=nan is not a finite"),
        (["optim=adam", "optim.betas=[0.9,1.0]"], "optim.betas[1]=1.0 is out of range"),
        (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val=-1 is out of range"),
        (["trainer.gradient_clip_val=nan"], "trainer.gradient_clip_val=nan is not a finite"),
        (["sched.gamma=nan"], "sched.gamma=nan is not a finite"),
        (["sched.warmup_steps=-5"], "sched.warmup_steps=-5 is out of range"),
        (["sched.milestones=[0.5,nan]"], "must be finite numbers"),
        (["sched=cosine", "sched.min_lr_factor=inf"], "sched.min_lr_factor=inf is not a finite"),
        (["sched=onecycle", "sched.pct_start=0"], "sched.pct_start=0 is out of range"),
    ],
)
def test_bad_values_raise_config_error_before_training(overrides, message, tmp_path):
    cfg = compose(overrides)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        train(cfg, tmp_path)
    assert not (tmp_path / "checkpoints").exists()
