"""model=torchvision / model=timm: every classifier builds, weights load exactly or are refused in
one line, and nothing is downloaded (the hub cache is a temporary folder, the network a dead port).
"""

import datetime
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from omegaconf import OmegaConf
from torch import nn

from prunelab.allowlist import allowed_targets
from prunelab.loading import LoadError
from prunelab.models import classifier_archs, timm_model, torchvision_model
from prunelab.network import build_network
from prunelab.pruning.targets import prunable_parameters

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"
# Stems or patch sizes that cannot take CIFAR's 32 px images: built at ImageNet's 224 px instead.
NOT_32PX = {"alexnet", "inception_v3", "maxvit_t", "vit_h_14"}


def config(name: str, arch: str, image_size: int | None = None, **model):
    """The `model` node of conf/model/<name>.yaml beside a 10-class data node, arch set."""
    data = {"num_classes": 10, **({"image_size": image_size} if image_size else {})}
    cfg = OmegaConf.create({"data": data})
    cfg.model = OmegaConf.load(CONF / f"{name}.yaml")
    cfg.model.update(arch=arch, **{k: str(v) for k, v in model.items()})  # paths as strings
    return cfg.model


def refusal(node) -> BaseException:
    """What the constructor raised for a config node (Hydra wraps it; train.py unwraps it too)."""
    with pytest.raises(InstantiationException) as info:
        build_network(node)
    return info.value.__cause__


def same_tensors(a: nn.Module, b: nn.Module, skip: str = "-") -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        if not name.startswith(skip):
            assert torch.equal(x, y), name


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, as run_cli's OMP_NUM_THREADS=1: on a busy 2-core machine two threads
    spin more than they work (a tiny run measured 1.8 s of CPU with one, 25 s with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache, and every HTTP(S) request sent to a closed local port."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # port 9 (discard): connection refused
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def regnet_widths_on_cpu(monkeypatch):
    """RegNet computes its block widths with tensor ops and `.tolist()`, which a meta device
    context cannot run: they are computed on the CPU (the modules stay on meta)."""
    from torchvision.models import regnet

    original = regnet.BlockParams.from_init_params.__func__

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return original(cls, *args, **kwargs)

    monkeypatch.setattr(regnet.BlockParams, "from_init_params", classmethod(on_cpu))


def test_the_arch_list_is_torchvisions_classifiers():
    from torchvision import models

    assert classifier_archs() == tuple(models.list_models(module=models))
    assert {"mobilenet_v3_small", "vit_b_16", "resnet18"} <= set(classifier_archs())
    assert not {"fasterrcnn_resnet50_fpn", "fcn_resnet50", "r3d_18"} & set(classifier_archs())


# On the meta device: the whole constructor runs and its check of the input size (one forward
# pass) propagates shapes only: ~0.1 s an arch instead of up to 20 s of weight init (~10 s of
# CPU for all 80). The last prunable layer is the classifier, sized for the data's 10 classes.
@pytest.mark.parametrize("arch", classifier_archs())
def test_every_classifier_builds_through_the_config(arch, regnet_widths_on_cpu):
    size = 224 if arch in NOT_32PX else None  # None: the config's 32 px, as on CIFAR
    with torch.device("meta"):
        model = build_network(config("torchvision", arch, image_size=size))
    *_, head = prunable_parameters(model).values()
    assert head.shape[0] == 10


@pytest.mark.parametrize("arch", sorted(NOT_32PX))
def test_32px_images_refused_in_one_line_where_a_network_cannot_take_them(arch):
    with torch.device("meta"), pytest.raises(ValueError, match=f"{arch} cannot .*32") as info:
        torchvision_model(arch, 10, image_size=32)
    assert "\n" not in str(info.value)


def test_depthwise_convolutions_are_prunable():
    model = torchvision_model("mobilenet_v3_small", 10)
    prunable = prunable_parameters(model)
    convs = {f"{n}.weight": m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert any(m.groups == m.in_channels > 1 for m in convs.values())  # depthwise ones exist
    assert set(convs) <= set(prunable)


def test_unknown_arch_and_missing_arch_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"closest: mobilenet_v3_small.*'resnet18'.*squeezenet"):
        torchvision_model("mobilenet_v3_smal")
    with pytest.raises(ValueError, match=r"model=torchvision needs model\.arch=NAME"):
        raise refusal(config("torchvision", None))


def test_release_names_are_checked_before_any_download(offline):
    with pytest.raises(ValueError, match="valid: IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT"):
        torchvision_model("resnet50", weights="IMAGENET1K_V9")
    with pytest.raises(ValueError, match=r"VGG16_Weights\.IMAGENET1K_V1 is not .* of resnet50"):
        torchvision_model("resnet50", weights="VGG16_Weights.IMAGENET1K_V1")
    with pytest.raises(ValueError, match="for 224 px images, the data's are 32 px"):
        torchvision_model("vit_b_16", 10, weights="IMAGENET1K_V1", image_size=32)
    assert not offline.exists()  # nothing fetched, nothing even prepared


def test_a_release_without_network_is_refused_in_one_line(offline):
    error = refusal(config("torchvision", "mobilenet_v3_small", weights="DEFAULT"))
    assert isinstance(error, ValueError) and "\n" not in str(error)
    assert str(error).startswith("model.weights=MobileNet_V3_Small_Weights.IMAGENET1K_V1: cannot ")
    assert str(error).endswith("pass its local path: model.weights=PATH")
    assert list(offline.iterdir()) == []  # no partial download left behind


def test_a_downloaded_release_is_read_by_the_one_loader(offline):
    """A file already in torch's hub cache (as torchvision leaves it) is used without network;
    its 1000-class classifier is replaced by a fresh 10-class one."""
    from torchvision.models import MobileNet_V3_Small_Weights

    release = torchvision_model("mobilenet_v3_small", 1000)
    cached = offline / Path(MobileNet_V3_Small_Weights.IMAGENET1K_V1.url).name
    cached.parent.mkdir(parents=True)
    torch.save(release.state_dict(), cached)
    for name in ("IMAGENET1K_V1", "MobileNet_V3_Small_Weights.DEFAULT"):
        with pytest.warns(UserWarning, match=r"classifier `classifier\.3` has 1000 classes"):
            model = torchvision_model("mobilenet_v3_small", 10, weights=name, image_size=32)
        assert model.classifier[3].out_features == 10
        expected = release.state_dict()
        for key, tensor in model.state_dict().items():
            if not key.startswith("classifier.3."):
                assert torch.equal(tensor, expected[key]), key
    torch.save({"weight": torch.zeros(1), "when": datetime.date(2024, 1, 1)}, cached)
    with pytest.raises(LoadError, match="refusing to unpickle"):  # weights_only, like any file
        torchvision_model("mobilenet_v3_small", 10, weights="IMAGENET1K_V1")


def test_a_local_weights_file_loads_bit_exactly(tmp_path):
    source = torchvision_model("mobilenet_v3_small", 10)
    path = tmp_path / "mobilenet.pth"
    torch.save(source.state_dict(), path)
    same_tensors(source, build_network(config("torchvision", "mobilenet_v3_small", weights=path)))


def test_released_layouts_load_densenet_names_and_googlenet_aux_heads(tmp_path):
    from torchvision.models import googlenet

    source = torchvision_model("densenet121", 10)
    old = {  # torchvision's release: `norm.1`-style names, no BatchNorm counters (torch < 0.4.1)
        k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v
        for k, v in source.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    torch.save(old, tmp_path / "densenet.pth")
    same_tensors(source, torchvision_model("densenet121", 10, weights=tmp_path / "densenet.pth"))
    with_aux = googlenet(num_classes=10, aux_logits=True, init_weights=True)
    torch.save(with_aux.state_dict(), tmp_path / "googlenet.pth")
    loaded = torchvision_model("googlenet", 10, weights=tmp_path / "googlenet.pth")
    assert not loaded.aux_logits and torch.equal(loaded.fc.weight, with_aux.fc.weight)


def test_another_networks_weights_refused_in_one_line(tmp_path):
    torch.save(torchvision_model("resnet18", 10).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(LoadError, match="holds another network's weights: missing") as info:
        torchvision_model("mobilenet_v3_small", 10, weights=tmp_path / "r18.pth")
    assert isinstance(info.value, RuntimeError) and "\n" not in str(info.value)


def test_stored_configs_may_build_both_targets():
    targets = {"prunelab.models.torchvision_model", "prunelab.models.timm_model"}
    assert targets <= allowed_targets()


def test_timm_missing_is_refused_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    with pytest.raises(ValueError, match=r"^model=timm needs .*: pip install 'prunelab\[timm\]'$"):
        raise refusal(config("timm", "resnet10t"))


def test_timm_arch_weights_and_input_size():
    pytest.importorskip("timm")
    with pytest.raises(ValueError, match=r"unknown timm arch 'resnet10' \(closest: resnet10t"):
        timm_model("resnet10")
    with pytest.raises(ValueError, match=r"timm vit_tiny_patch16_224 cannot take 32x32 px"):
        raise refusal(config("timm", "vit_tiny_patch16_224"))
    with pytest.raises(FileNotFoundError, match="pretrained=True"):
        timm_model("resnet10t", weights="resnet10t.a1_in1k")


def test_timm_local_weights_load_bit_exactly_or_keep_the_backbone(tmp_path):
    pytest.importorskip("timm")
    sources = {c: timm_model("mobilenetv3_small_050", c) for c in (10, 1000)}
    for classes, source in sources.items():
        torch.save(source.state_dict(), tmp_path / f"{classes}.pth")
    loaded = build_network(config("timm", "mobilenetv3_small_050", weights=tmp_path / "10.pth"))
    same_tensors(sources[10], loaded)
    with pytest.warns(UserWarning, match="classifier `classifier` has 1000 classes"):
        model = timm_model("mobilenetv3_small_050", 10, weights=tmp_path / "1000.pth")
    assert model.classifier.out_features == 10
    same_tensors(sources[1000], model, skip="classifier.")
