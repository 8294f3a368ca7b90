"""Loading `ml_collections` config files and addressing their keys by dotted name.

A config file is a Python file with `get_config()` (optionally taking one string
argument, given as `FILE:ARG`), as in the Flax examples. Overrides use
`ml_collections.config_flags` conventions: `--config.model.width=512`. This
module only loads and addresses configs; what a key means is decided elsewhere.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from typing import Any

from absl import flags
from ml_collections import config_dict, config_flags

from playbook.errors import ConfigError, closest

ConfigDict = config_dict.ConfigDict


def load(path: str, overrides: Sequence[str] = ()) -> ConfigDict:
    """Loads `path` (`FILE` or `FILE:ARG`) and applies `--config.KEY=VALUE` overrides.

    Parsing goes through `config_flags`, so values are converted to the type of
    the existing field exactly as `playbook train --config.KEY=VALUE` would.
    """
    file = path.split(":", 1)[0]
    if not os.path.isfile(file):
        raise ConfigError(f"config file '{file}' does not exist; pass a Python file with get_config()")
    for item in overrides:
        if not item.startswith("--config."):
            raise ConfigError(f"unexpected argument '{item}'; overrides look like --config.KEY=VALUE")
    argv = ["playbook", f"--config={path}", *overrides]
    flag_values = flags.FlagValues()
    # sys_argv is explicit: by default config_flags also reads overrides from sys.argv.
    config_flags.DEFINE_config_file("config", None, "config file", flag_values=flag_values,
                                    lock_config=False, sys_argv=argv)
    try:
        flag_values(argv)
        config = flag_values.config
    except flags.Error as e:
        raise ConfigError(_flag_error_message(str(e), path)) from None
    except (AttributeError, KeyError) as e:
        raise ConfigError(f"bad override for config '{path}': {e}") from None
    if not isinstance(config, ConfigDict):
        raise ConfigError(f"get_config() in '{file}' must return a ConfigDict, got "
                          f"{type(config).__name__}")
    return config


def _flag_error_message(message: str, path: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "could not load"
    return f"config '{path}': {first}"


def get(config: ConfigDict, dotted: str) -> Any:
    """The value at `dotted` (e.g. 'model.width'); ConfigError naming the closest key."""
    node: Any = config
    parts = dotted.split(".")
    for part in parts:
        if not isinstance(node, ConfigDict) or part not in node:
            raise ConfigError(f"'{dotted}' is not a key of the baseline config"
                              f"{closest(dotted, flat_keys(config))}")
        node = node[part]
    return node


def has(config: ConfigDict, dotted: str) -> bool:
    try:
        get(config, dotted)
    except ConfigError:
        return False
    return True


def with_values(config: ConfigDict, values: dict[str, Any]) -> ConfigDict:
    """A copy of `config` with each dotted key set to its value (keys must exist)."""
    out = copy.deepcopy(config)
    with out.unlocked():
        for dotted, value in values.items():
            *parents, leaf = dotted.split(".")
            node = out
            for part in parents:
                node = node[part]
            if leaf not in node:
                raise ConfigError(f"'{dotted}' is not a key of the baseline config"
                                  f"{closest(dotted, flat_keys(config))}")
            if not _fits(node[leaf], value):
                raise ConfigError(f"'{dotted}' = {value!r} does not fit the baseline's "
                                  f"{type(node[leaf]).__name__} value {node[leaf]!r}")
            if isinstance(node[leaf], float) and isinstance(value, int):
                value = float(value)
            node[leaf] = value
    return out


def _fits(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, float) and isinstance(new, int):
        return True
    return isinstance(new, type(old))


def flat_keys(config: ConfigDict, prefix: str = "") -> list[str]:
    """Every leaf key of `config` as a dotted name."""
    keys = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, ConfigDict):
            keys.extend(flat_keys(value, name + "."))
        else:
            keys.append(name)
    return keys


def to_dict(config: ConfigDict) -> dict:
    """A JSON-ready plain dict of `config`."""
    return json.loads(config.to_json_best_effort())


def from_dict(d: dict) -> ConfigDict:
    return ConfigDict(d)
