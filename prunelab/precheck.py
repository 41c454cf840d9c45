"""Checks of the command line made before Hydra runs and before torch and Lightning are imported,
so that a typo is refused in about a second, as one line naming the closest valid key."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from omegaconf import DictConfig, OmegaConf

from prunelab.config import CHOICE_GROUPS, choices
from prunelab.errors import ConfigError

_ABSENT = object()
GROUPS = (*CHOICE_GROUPS, "structure")  # `structure=precrop`: the structural stage before a method
PART_GROUPS = ("pruning/rule", "pruning/schedule", "pruning/after")  # a method's parts


def _is_pick(key: str, value: str) -> bool:
    """Whether `key=value` picks one option of a group (not a sweep's range or choice function)."""
    return (key in GROUPS or key in PART_GROUPS) and bool(value) and "(" not in value


def _keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key of `cfg`, parents included (`pruning`, `pruning.sparsity`, ...)."""
    keys = []
    for key, value in cfg.items_ex(resolve=False):
        name = f"{prefix}{key}"
        if name == "hydra":  # Hydra's own keys are Hydra's to check
            continue
        keys.append(name)
        if isinstance(value, DictConfig) and not value._is_none():
            keys.extend(_keys(value, f"{name}."))
    return keys


def _has(cfg: DictConfig, key: str) -> bool:
    """Whether the config tree has `key`, a mandatory value (`???`, e.g. `data.root` of
    `data=imagefolder`) included: `OmegaConf.select` answers its default for those."""
    if OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False) is not (
        _ABSENT
    ):
        return True
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None, throw_on_resolution_failure=False)
    # `leaf in node` is False for a `???` value; its keys list it
    return isinstance(node, DictConfig) and not node._is_none() and leaf in list(node)


def _tree(overrides: Sequence[str]) -> DictConfig:
    """The config tree the command's group choices compose (a sweep's first option of each)."""
    from prunelab.config import compose

    picks = []
    for item in overrides:
        key, _, value = item.partition("=")
        if _is_pick(key, value):
            picks.append(f"{key}={value.split(',')[0]}")
    return compose(picks)


def _swept_trees(overrides: Sequence[str]) -> Iterator[DictConfig]:
    """The config trees of a sweep's other group options (`pruning/rule=magnitude,random`: the
    tree with `random`), one option at a time: a key of any of them is a key of the sweep."""
    for i, item in enumerate(overrides):
        key, _, value = item.partition("=")
        if not _is_pick(key, value):
            continue
        for option in value.split(",")[1:]:
            try:
                yield _tree([*overrides[:i], f"{key}={option}", *overrides[i + 1 :]])
            except Exception:  # Hydra names a bad option
                continue


def cfg_choice(overrides: Sequence[str], group: str) -> str:
    """The option of `group` picked on the command line (its first, in a sweep), or `none`."""
    picks = [v for k, _, v in (o.partition("=") for o in overrides) if k == group]
    return picks[-1].split(",")[0] if picks else "none"


def check_parts(overrides: Sequence[str]) -> None:
    """Refuse a part option that does not exist (`pruning/rule=magnitud`) or a pair of parts that
    do not combine (`pruning=gmp pruning/after=rewind`), in one line, before Hydra runs.

    Raises:
        ConfigError: `pruning/after=rewind does not combine with pruning/schedule=cubic: ...`
    """
    picks = [item.partition("=") for item in overrides]
    picks = [(k, v) for k, _, v in picks if k in (*PART_GROUPS, "structure") and _is_pick(k, v)]
    for key, value in picks:
        valid = choices(key)
        for option in value.split(","):
            if option not in valid:
                raise ConfigError(f"{key}={option} is not one of {', '.join(valid)}")
    parts = [(k, v) for k, v in picks if k in PART_GROUPS]
    if not parts:
        return
    from prunelab.composition import check_combination, kinds_of

    choice = {k: v.split(",") for k, v in parts}
    fixed = [o for o in overrides if o.partition("=")[0] not in PART_GROUPS]
    first = [f"{k}={v[0]}" for k, v in choice.items()]
    for key, options in choice.items():  # each option of a swept part, with the others' first
        for option in options:
            others = [f for f in first if not f.startswith(f"{key}=")]
            try:
                cfg = _tree([*fixed, *others, f"{key}={option}"])
            except Exception as exc:  # e.g. a method without parts (pruning=none, precrop)
                if "No match in the defaults list" in str(exc):
                    method = cfg_choice(overrides, "pruning")
                    raise ConfigError(
                        f"{key}={option}: pruning={method} is not made of parts; pick one that "
                        "is (gmp, global_magnitude, granet, imp, lth, pq_index, random, snip)"
                    ) from None
                return  # Hydra names the problem
            kinds = kinds_of(OmegaConf.to_container(cfg.pruning, resolve=False))
            if kinds is not None:
                check_combination(kinds)


def check_keys(overrides: Sequence[str]) -> None:
    """Refuse a `key=value` override whose key the config tree does not have, naming the closest
    valid key. `+key=` (adding), `~key` (deleting), groups and Hydra's keys are left to Hydra.

    Raises:
        ConfigError: `pruning.sparsty is not a config key; did you mean pruning.sparsity?`
    """
    check_parts(overrides)
    dotted = []
    for item in overrides:
        key, sep, _ = item.partition("=")
        if sep and "." in key and not key.startswith(("+", "~", "hydra.")) and "[" not in key:
            dotted.append(key)
    if not dotted:
        return
    try:
        cfg = _tree(overrides)
    except Exception:  # a bad group option or grammar: Hydra (or check_overrides) names it
        return
    for key in dotted:
        if _has(cfg, key) or any(_has(other, key) for other in _swept_trees(overrides)):
            continue
        valid = [k for k in _keys(cfg) if not key.startswith(f"{k}.")]  # not its own parents
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        parent = key.rpartition(".")[0]
        if not close and parent in valid:
            options = [k.rpartition(".")[2] for k in valid if k.rpartition(".")[0] == parent]
            hint = f"; {parent} has {', '.join(options)}"
        raise ConfigError(f"{key} is not a config key{hint} (add one with +{key}=...)")
