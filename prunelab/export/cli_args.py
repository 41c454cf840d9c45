"""Command-line plumbing shared by `prunelab-eval` and `prunelab-export`."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from omegaconf import DictConfig

from prunelab.errors import ConfigError
from prunelab.validate import check_overrides

# Lightning's advice that does not apply here (in-memory loaders need no workers).
QUIET = (r".*does not have many workers.*", r".*isinstance\(treespec, LeafSpec\).*")
# Flags with which Hydra only prints (help, config, info) and needs no ckpt_path.
PRINT_FLAGS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc")
# Per command config: (sections laid over the stored config, of which groups chosen whole).
COMMANDS = {
    "eval": (("data", "model", "trainer"), ("data",)),
    "export": ((), ()),
    "bench": ((), ()),
}


def fail(prog: str, message: str) -> None:
    """Report a user error as one line on stderr and exit with status 2 (like argparse)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def quiet() -> None:
    """Silence warnings that say nothing useful about an eval or export."""
    for pattern in QUIET:
        warnings.filterwarnings("ignore", message=pattern)


def prepare_args(
    args: Sequence[str], sections: Sequence[str] = (), groups: Sequence[str] = ()
) -> list[str]:
    """Check the command line and open the stored-config sections to any key.

    `sections` (e.g. data, model, trainer) are empty in the eval config and laid over the
    checkpoint's stored config, so their keys cannot be known in advance: `data.batch_size=256`
    becomes Hydra's `++data.batch_size=256` (add or override). Of those, only `groups` may be
    chosen whole (`data=cifar10`), and the choice is checked against the config tree.

    Raises:
        ConfigError: no `ckpt_path=`, or a section chosen whole that cannot be.
    """
    flags = [a for a in args if a.startswith("-")]
    if not any(a.startswith("ckpt_path=") for a in args) and not set(flags) & set(PRINT_FLAGS):
        raise ConfigError(
            "ckpt_path=PATH is required (e.g. runs/<name>/<time>/checkpoints/last.ckpt)"
        )
    prepared = []
    for arg in args:
        key, sep, _ = arg.partition("=")
        if not sep or arg.startswith(("-", "+", "~")):
            prepared.append(arg)
            continue
        if key in sections:
            if key not in groups:
                raise ConfigError(
                    f"{key} cannot be chosen whole: it comes from the checkpoint; "
                    f"override single keys instead ({key}.<key>=VALUE)"
                )
            check_overrides([arg])
        elif key.split(".")[0] in sections:
            arg = f"++{arg}"
        prepared.append(arg)
    return prepared


def compose(command: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `conf/<command>.yaml` (eval, export) as its command line would, for tests and
    notebooks: `evaluate(compose("eval", ["ckpt_path=..."]), run_dir)`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from prunelab.config import CONFIG_MODULE

    args = prepare_args(overrides, *COMMANDS[command])
    GlobalHydra.instance().clear()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return hydra_compose(command, overrides=args)
