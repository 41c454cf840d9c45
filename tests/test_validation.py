"""Bad configs are refused before any compute, with one line naming the value and what is valid."""

import pytest
from cli_runs import run_cli

from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.train import train
from prunelab.validate import check_overrides


@pytest.mark.parametrize(
    ("override", "named"),
    [("model=resnet21", "resnet20"), ("data=cifar11", "cifar10_mini"), ("pruning=lotery", "gmp")],
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
    ],
)
def test_bad_values_raise_config_error_before_training(overrides, message, tmp_path):
    cfg = compose(overrides)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        train(cfg, tmp_path)
    assert not (tmp_path / "checkpoints").exists()
