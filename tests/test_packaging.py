"""The installed wheel, not only the checkout: callbacks import as `prunelab.callbacks`, the
configs and the embedded data set ship inside the package."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info")

CHECK = """
import prunelab, prunelab.callbacks
from prunelab.callbacks import GlobalMagnitudePruning, MaskedTraining
from prunelab.config import choices, config_dir
from prunelab.data import load_mini_cifar10
assert prunelab.callbacks.__file__.startswith(SITE), prunelab.callbacks.__file__
assert str(config_dir()).startswith(SITE) and "resnet20" in choices("model")
(train_x, _), (test_x, _), classes = load_mini_cifar10()
assert len(train_x) == 5000 and len(test_x) == 1000 and classes[0] == "airplane"
print("ok", len(choices("pruning")))
"""


@pytest.mark.slow
def test_wheel_installs_callbacks_configs_and_data(tmp_path):
    pip = [sys.executable, "-m", "pip"]
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # Built from a copy: setuptools leaves build/ in the tree it builds.
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "prunelab", "callbacks", "conf"):
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, source / part, ignore=IGNORE)
        else:
            shutil.copy(REPO / part, source / part)
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("prunelab-*.whl")
    install = [*pip, "install", "--no-deps", "-q", "--target", site, wheel]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", f"SITE = {str(site)!r}\n{CHECK}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_every_subpackage_and_config_is_listed_for_the_wheel():
    """pyproject lists packages by hand (callbacks/ and conf/ are mapped into prunelab): a new
    subpackage or a config nested deeper than the globs would be missing from an installed wheel."""
    import glob

    import tomllib

    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {"prunelab": REPO / "prunelab"} | {
        name: REPO / folder for name, folder in tool["package-dir"].items()
    }
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((name, *rel)))
    assert sorted(found - set(tool["packages"])) == []
    globs = tool["package-data"]["prunelab.conf"]
    shipped = {f for g in globs for f in glob.glob(g, root_dir=REPO / "conf", recursive=True)}
    configs = {p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert sorted(configs - shipped) == []
