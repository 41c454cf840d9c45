"""Every config file composes, and what it names can be built (constructors only, no training)."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from prunelab.building import build_node as _build
from prunelab.building import build_pruning
from prunelab.config import choices, compose
from prunelab.network import build_network
from prunelab.terminal import MIN_UPDATES

SMALL_DATA = ("cifar10_mini", "cifar10", "cifar100")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """An ImageFolder tree with two classes of three 40x40 images in train/ and val/."""
    root = tmp_path_factory.mktemp("folder")
    for split in ("train", "val"):
        for cls, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40, 40), colour).save(root / split / cls / f"{i}.png")
    return root


def test_groups_offer_the_documented_options():
    assert {"resnet20", "resnet110", "vgg11", "vgg19", "resnet18", "resnet50", "vgg16_bn"} <= set(
        choices("model")
    )
    assert set(SMALL_DATA) | {"imagenet", "imagefolder"} <= set(choices("data"))
    assert {"none", "global_magnitude", "gmp"} <= set(choices("pruning"))


def test_default_config_is_the_embedded_job():
    # The default job prunes: GMP of ResNet-20 to 90% on the embedded set, with enough updates.
    cfg = compose()
    assert cfg.data._target_.endswith("MiniCIFAR10DataModule")
    assert cfg.model.depth == 20 and cfg.pruning.name == "gmp" and cfg.pruning.sparsity == 0.9
    assert cfg.name == "resnet20-gmp"
    (method,) = build_pruning(cfg.pruning)
    steps_per_epoch = 5000 // cfg.data.batch_size  # the embedded set's 5,000 training images
    plan = method.schedule.targets(steps_per_epoch, cfg.trainer.max_epochs)
    assert len(plan) >= MIN_UPDATES and max(plan.values()) == 0.9
    # Dense is one override away, on the same schedule of epochs.
    dense = compose(["pruning=none"])
    assert build_pruning(dense.pruning) == [] and dense.name == "resnet20-none"
    assert dense.trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("option", sorted(set(choices("pruning")) - {"gmp", "none"}))
def test_other_methods_keep_their_own_settings_on_the_embedded_set(option):
    # The default job's schedule is GMP's on the embedded set only: no other method inherits it.
    mini, full = compose([f"pruning={option}"]), compose([f"pruning={option}", "data=cifar10"])
    assert mini.trainer.max_epochs == full.trainer.max_epochs
    assert OmegaConf.to_container(mini.pruning) == OmegaConf.to_container(full.pruning)


def test_gmp_off_the_embedded_set_keeps_its_own_schedule():
    cfg = compose(["data=cifar10"])
    assert cfg.pruning.frequency == 100 and cfg.trainer.max_epochs == 10


@pytest.mark.parametrize(
    "overrides, name",
    [
        ([], "resnet20-gmp"),
        (["pruning=none"], "resnet20-none"),
        (["pruning=precrop"], "resnet20-precrop"),
        (["structure=precrop"], "resnet20-precrop-gmp"),
        (["model=vgg16", "structure=precrop", "pruning=imp"], "vgg16-precrop-imp"),
    ],
)
def test_the_run_name_says_model_structure_and_method(overrides, name):
    assert compose(overrides).name == name


@pytest.mark.parametrize("option", choices("model"))
def test_model_configs_build(option):
    if option == "vgg16_bn":
        pytest.skip("138M parameters: built once in tests/models/test_imagenet.py")
    cfg = compose([f"model={option}", "data=cifar100"])
    network = build_network(cfg.model)
    assert network.fc.out_features == 100


@pytest.mark.parametrize("option", choices("pruning"))
def test_pruning_configs_build(option):
    cfg = compose([f"pruning={option}"])
    callbacks = build_pruning(cfg.pruning)
    assert (callbacks == []) == (option == "none")


@pytest.mark.parametrize("option", SMALL_DATA)
def test_small_data_configs_build(option, tmp_path):
    cfg = compose([f"data={option}", f"paths.data_dir={tmp_path}"])
    datamodule = _build(cfg.data)
    assert datamodule.num_classes == cfg.data.num_classes


def test_imagefolder_config_builds(tiny_folder):
    cfg = compose(["data=imagefolder", f"data.root={tiny_folder}", "data.num_classes=2"])
    datamodule = _build(cfg.data)
    assert datamodule.num_classes == 2


@pytest.mark.parametrize("option", choices("experiment"))
def test_experiment_configs_compose_and_build(option):
    cfg = compose([f"experiment={option}"])
    if cfg.data.get("root") in (None, "???") and "imagenet" in cfg.data._target_.lower():
        pytest.skip("ImageNet experiments need data.root")
    assert build_network(cfg.model) is not None
    build_pruning(cfg.pruning)


@pytest.mark.parametrize("option", [o for o in choices("trainer") if "ddp" not in o])
def test_trainer_configs_compose(option):
    cfg = compose([f"trainer={option}"])
    assert cfg.trainer.max_epochs >= 1


def test_monitor_group_adds_measurement_callbacks():
    from prunelab.callbacks import PQIndexMonitor
    from prunelab.train import build_monitors

    assert build_monitors(compose().monitor) == []
    (monitor,) = build_monitors(compose(["pruning=imp", "monitor=pq_index"]).monitor)
    assert isinstance(monitor, PQIndexMonitor) and (monitor.p, monitor.q) == (0.5, 1.0)


def test_pruning_config_may_interpolate_top_level_keys():
    from omegaconf import OmegaConf

    cfg = compose(["seed=7"])
    node = OmegaConf.create(
        {"pruning": {"name": "gmp", "_target_": "builtins.dict", "s": "${seed}"}}
    )
    cfg.pruning = node.pruning
    (built,) = build_pruning(cfg.pruning)
    assert built == {"s": 7}
