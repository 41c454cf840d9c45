"""Resume in place: `ckpt_path=<run>/checkpoints/last.ckpt` continues the run that holds it.

On the command line, before Hydra picks a new timestamped folder, `redirect_argv` points the run
at the checkpoint's run directory (`hydra.run.dir=<run>`): the resumed run appends to its
`metrics.csv`, keeps its IMP masks in its one `masks/` folder and continues its W&B run (see
`prunelab.rundir`). `check_same_run` then refuses a resume whose config would make it another run.

Hydra writes its record of a run (`.hydra/config.yaml`, `overrides.yaml`, `hydra.yaml`) before
prunelab sees the config, so a command refused in a folder that holds a run would leave that
run's record describing the refused command: `keep_hydra_record` reads it first and
`restore_hydra_record` puts it back when the command is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunelab.errors import ConfigError

# Keys a resumed run may change: where files and logs go and what is shown, none of which changes
# the weights or the results.
MAY_DIFFER = (
    "ckpt_path",
    "overwrite",
    "bench",
    "logger",
    "paths",
    "data.root",
    "data.num_workers",
    "trainer.progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
)
# What a run continued from a checkpoint in another folder (moved, or `hydra.run.dir=<new>`) may
# change besides those: how long it trains. Another model, method or learning rate is no
# continuation: `model.init_from=<file>` starts a new run from the weights.
MAY_GROW = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_time")
# Config groups named in the refusal of a continuation that changes them.
KINDS = {"data": "data", "model": "model", "pruning": "pruning method", "optim": "optimizer"}
MULTIRUN = ("-m", "--multirun")
SHOWN = 6  # differences named in the refusal; more are counted
_kept: dict[Path, bytes] = {}  # Hydra's record of the run in the target folder, before Hydra ran


def checkpoint_run_dir(ckpt_path: str | Path | None) -> Path | None:
    """The run directory that holds `ckpt_path` (`<run>/checkpoints/<file>`); None for a
    checkpoint kept anywhere else (it starts a new run wherever the run directory is)."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path).expanduser()
    return path.parent.parent if path.parent.name == "checkpoints" else None


def _override(args: Sequence[str], key: str) -> tuple[bool, Any]:
    """Whether `key=...` is among `args`, and its value as Hydra parses it (the last one wins;
    None when Hydra cannot parse it: Hydra itself will say why)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found, value = False, None
    for arg in args:
        name, sep, _ = arg.partition("=")
        if sep and name.lstrip("+~") == key:
            try:
                found, value = True, OverridesParser.create().parse_override(arg).value()
            except Exception:  # Hydra's grammar errors have several types; Hydra reports them
                found, value = True, None
    return found, value


def multirun(args: Sequence[str]) -> bool:
    """Whether the command is a sweep (`-m`, `--multirun`, `hydra.mode=MULTIRUN`)."""
    _, mode = _override(args, "hydra.mode")
    return any(a in MULTIRUN for a in args) or str(mode).upper() == "MULTIRUN"


def redirect_argv(argv: Sequence[str]) -> list[str]:
    """`argv` with `hydra.run.dir=<run>` appended when it resumes `<run>/checkpoints/<file>`.

    Left as it is for a multirun (each job has its own folder), when `hydra.run.dir` is given
    (the user chose the folder) and for a checkpoint outside a run's `checkpoints/`; those two
    continue the checkpoint in another folder, and `check_continuation` compares their config.

    Raises:
        ConfigError: the checkpoint to resume does not exist (Hydra would create its folder), or
            is continued elsewhere with another config.
    """
    args = list(argv[1:])
    if multirun(args):
        return list(argv)
    chosen, _ = _override(args, "hydra.run.dir")
    _, ckpt = _override(args, "ckpt_path")
    run = checkpoint_run_dir(ckpt) if isinstance(ckpt, str) and not chosen else None
    if run is None:
        if isinstance(ckpt, str) and ckpt:
            check_continuation(args, ckpt)
        return list(argv)
    if not Path(ckpt).expanduser().is_file():
        raise ConfigError(f"ckpt_path={ckpt} does not exist or is not a file")
    quoted = str(run).replace("'", "\\'")
    override = f"hydra.run.dir='{quoted}'"
    if _override([override], "hydra.run.dir")[1] != str(run):  # e.g. `${` in a folder name
        raise ConfigError(
            f"cannot resume {ckpt} in place: give its run directory as hydra.run.dir=... yourself"
        )
    return [*argv, override]


def keep_hydra_record(argv: Sequence[str]) -> None:
    """Before Hydra runs: read the `.hydra/*.yaml` files of the folder `hydra.run.dir` names
    (given or from `redirect_argv`), if it holds them, for `restore_hydra_record`."""
    args = list(argv[1:])
    _, folder = _override(args, "hydra.run.dir")
    if multirun(args) or not isinstance(folder, str):
        return
    for path in (Path(folder).expanduser() / ".hydra").glob("*.yaml"):
        _kept[path] = path.read_bytes()


def restore_hydra_record() -> None:
    """Put back the `.hydra/*.yaml` files `keep_hydra_record` read: the command was refused, so
    the folder's run is what they must keep describing."""
    from prunelab.atomic import write_bytes

    for path, data in _kept.items():
        write_bytes(path, data)


def discard_new_run_dir(run_dir: Path, in_sweep: bool) -> None:
    """Delete the folder Hydra made for a refused command, when it holds only Hydra's record and
    log (no run was there before: `keep_hydra_record` found no record), and its parent when that
    is left empty (`runs/<name>/`). A sweep's job folders stay: they belong to the sweep."""
    import contextlib
    import shutil

    run_dir = Path(run_dir)
    if in_sweep or _kept or not run_dir.is_dir():
        return
    if any(p.name != ".hydra" and p.suffix != ".log" for p in run_dir.iterdir()):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.suppress(OSError):  # only when empty
        run_dir.parent.rmdir()


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists and other values are kept whole."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def differences(
    stored: Mapping[str, Any], config: Mapping[str, Any], may_differ: Sequence[str] = MAY_DIFFER
) -> list[str]:
    """`key=new (ran with old)` for every key both configs hold whose value differs, except those
    `may_differ`. A key only one side holds is a change of prunelab's config tree between versions
    (a new group such as `structure`, a flat key become parts), not of the run: a checkpoint of an
    earlier version resumes; its run's settings are still compared key by key."""
    old, new = flatten(stored), flatten(config)
    free = tuple(f"{m}." for m in may_differ)
    kept = [k for k in old if k in new and k not in may_differ and not k.startswith(free)]
    return [f"{k}={new[k]} (ran with {old[k]})" for k in kept if old[k] != new[k]]


def stored_config(ckpt_path: str | Path) -> dict | None:
    """The resolved run config a prunelab checkpoint holds (`prunelab_config`), read by the one
    loader (tensors and plain values only); None when the file holds none or cannot be read
    (`train()` refuses an unreadable checkpoint before this is asked)."""
    from prunelab.loading import LoadError, load_file

    try:
        raw = load_file(ckpt_path, "ckpt_path", mmap=True)  # the config only: tensors not read
    except LoadError:
        return None
    stored = raw.get("prunelab_config") if isinstance(raw, Mapping) else None
    return dict(stored) if isinstance(stored, Mapping) else None


def check_same_run(ckpt_path: str | Path, run_dir: Path, config: Mapping[str, Any]) -> None:
    """Refuse to continue a run with a config that would make it another run.

    The rule: the resolved run config must equal the one stored in the checkpoint (the config
    the run's weights were trained with, which Hydra's rewrite of `.hydra/` cannot touch), except
    for the keys in `MAY_DIFFER`. Anything else (another learning rate, more epochs, another
    seed) is a new run: it continues from the checkpoint in a folder of its own.

    Raises:
        ConfigError: one line naming the differing keys, their values and the way on.
    """
    stored = stored_config(ckpt_path)
    found = differences(stored, config) if stored is not None else []
    if not found:
        return
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    raise ConfigError(
        f"ckpt_path={ckpt_path} continues the run in {run_dir}, but the config differs from the "
        f"one it ran with: {', '.join(found[:SHOWN])}{more}; give the run's own values "
        "(hydra.run.dir=<new folder> continues it as a new run, which may only train longer: "
        "trainer.max_epochs), or start a new run from its weights with model.init_from=<file>"
    )


def _command_config(args: Sequence[str]) -> dict | None:
    """The resolved run config the command's overrides compose, as `train()` stores it; None
    when they do not compose (Hydra or the value checks then say why, in one line)."""
    from omegaconf import OmegaConf

    from prunelab.config import compose
    from prunelab.validate import normalize

    overrides = [a for a in args if not a.lstrip("+~").startswith(("-", "hydra.", "hydra/"))]
    try:
        cfg = compose(overrides)
        normalize(cfg)
        keys = [k for k in cfg if k != "hydra"]
        return OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)
    except Exception:  # Hydra's and OmegaConf's errors have many types; they are reported later
        return None


def check_continuation(args: Sequence[str], ckpt_path: str) -> None:
    """Before Hydra makes a folder: refuse `ckpt_path=<file>` outside the run's own folder (a
    checkpoint moved elsewhere, or `hydra.run.dir=<new>`) when the command's config differs from
    the one the checkpoint was trained with, except for `MAY_DIFFER` and `MAY_GROW`: resuming
    another model's or method's checkpoint is not a continuation of it.

    A file that is not a prunelab checkpoint is left to `train()`, which refuses it in one line.

    Raises:
        ConfigError: one line naming the differing keys, their values and the way on.
    """
    stored = stored_config(ckpt_path)
    config = _command_config(args) if stored is not None else None
    if config is None:
        return
    found = differences(stored, config, (*MAY_DIFFER, *MAY_GROW))
    if not found:
        return
    changed = {d.partition("=")[0].partition(".")[0] for d in found}
    kinds = [name for group, name in KINDS.items() if group in changed] or ["config"]
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    raise ConfigError(
        f"ckpt_path={ckpt_path} was trained with another {' and '.join(kinds)}: "
        f"{', '.join(found[:SHOWN])}{more}; a run continued from a checkpoint keeps its config "
        "except paths, logging and trainer.max_epochs/max_steps/max_time; start a new run from "
        "its weights with model.init_from=<file>"
    )
