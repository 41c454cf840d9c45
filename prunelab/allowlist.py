"""A config read from a file is data: only `_target_`s of prunelab's own config tree are built.

A checkpoint stores the run config it was trained with, and `prunelab-eval` / `prunelab-export`
rebuild the network and data from it with Hydra's `instantiate`, which imports and calls whatever
`_target_` names. A stored `_target_: builtins.open` would create or truncate a file, and
`_target_: torch.load` with `weights_only: false` would run a pickle. So before a stored node is
instantiated, every `_target_` in it (nested ones included) must be one that a file of the config
tree names; anything else is refused in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from prunelab.config import config_dir
from prunelab.loading import LoadError

TARGET = re.compile(r"^\s*_target_:\s*([\w.]+)", re.MULTILINE)


@cache
def allowed_targets() -> frozenset[str]:
    """Every `_target_` value written in a YAML file of prunelab's config tree."""
    found: set[str] = set()
    for path in config_dir().rglob("*.yaml"):
        found.update(TARGET.findall(path.read_text(encoding="utf-8")))
    return frozenset(found)


def _targets(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(key path, value) of every `_target_` in a nested config of dicts and lists."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                yield path, value
            else:
                yield from _targets(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _targets(value, f"{where}[{i}]")


def check_targets(node: Any, where: str, source: str) -> None:
    """Refuse `node` (a stored config section) if it names a `_target_` outside the allowlist.

    Args:
        node: the section about to be instantiated, as plain dicts and lists.
        where: its key in the config (`model`, `data`), for the message.
        source: what it was read from (`ckpt_path=...`), for the message.

    Raises:
        LoadError: a `_target_` that is not a string naming one of prunelab's own targets.
    """
    allowed = allowed_targets()
    for path, target in _targets(node, where):
        if not isinstance(target, str) or target not in allowed:
            raise LoadError(
                f"{source}: its stored config's {path}={target!r} is not one of prunelab's "
                "own targets; refusing to instantiate it (a stored config is data, not code)"
            )
