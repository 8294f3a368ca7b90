"""Loading `ml_collections` config files and addressing their keys by dotted name.

A config file is a Python file with `get_config()` (optionally taking one string
argument, given as `FILE:ARG`), as in the Flax examples. Overrides use
`ml_collections.config_flags` conventions: `--config.model.width=512`. This
module only loads and addresses configs; what a key means is decided elsewhere.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
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
    # config_flags loads every file as module 'config_config' and reuses a loaded one, so a
    # file without get_config() would silently return the previous file's config.
    sys.modules.pop("config_config", None)
    try:
        with _quiet_absl():
            flag_values(argv)
            config = flag_values.config
    except flags.Error as e:
        raise ConfigError(_flag_error_message(str(e), path)) from None
    except Exception as e:  # User code failed: the config file itself or an override.
        raise ConfigError(_unknown_override(path, overrides)
                          or _load_error_message(e, path, file)) from None
    if not isinstance(config, ConfigDict):
        raise ConfigError(f"get_config() in '{file}' must return a ConfigDict, got "
                          f"{type(config).__name__} (is a return statement missing?)")
    return config


def parse_overrides(config: ConfigDict, overrides: Mapping[str, tuple[str, str]]
                    ) -> dict[str, Any]:
    """{dotted key: value} for `overrides` ({key: (the override as typed, its VALUE)}),
    each VALUE parsed to the type of `config`'s field as `load` parses `--config.KEY=VALUE`
    (the keys exist: checked by the caller); ConfigError naming the override otherwise."""
    out = {}
    for key, (item, raw) in overrides.items():
        argv = ["playbook", f"--config.{key}={raw}" if "=" in item else f"--config.{key}"]
        flag_values = flags.FlagValues()
        copied = copy.deepcopy(config)
        config_flags.DEFINE_config_dict("config", copied, flag_values=flag_values,
                                        lock_config=False, sys_argv=argv)
        try:
            with _quiet_absl():
                flag_values(argv)
        except flags.Error:
            old = get(config, key)
            kind = {bool: "true or false", int: "an integer", float: "a number"}.get(
                type(old), f"a {type(old).__name__}")
            raise ConfigError(f"bad override {item}: '{key}' takes {kind}, like the baseline's "
                              f"{key}={old!r}; got {raw!r}") from None
        out[key] = get(copied, key)
    return out


@contextlib.contextmanager
def _quiet_absl():
    """Drops absl's log lines while loading: errors reach the user as one ConfigError."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _flag_error_message(message: str, path: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if "Traceback (most recent call last):" in lines:
        # config_flags wraps errors of get_config() in a traceback; its last line says what.
        # A ConfigError (define(), hp.*) already names the key and what is valid.
        said = lines[-1].partition(f"{ConfigError.__module__}.ConfigError: ")
        if not said[0] and said[1]:
            return f"config '{path}': {said[2]}"
        return f"config '{path}' failed to load: {lines[-1]}; fix the file or its argument"
    return f"config '{path}': {lines[0] if lines else 'could not load'}"


def _unknown_override(path: str, overrides: Sequence[str]) -> str | None:
    """One line naming the first override whose key the config lacks, or None."""
    if not overrides:
        return None
    try:
        config = load(path)
    except ConfigError:
        return None  # the file itself fails: said by _load_error_message
    keys = flat_keys(config)
    for item in overrides:
        key = item[len("--config."):].partition("=")[0]
        if not has(config, key):
            hint = closest(key, keys) or f"; its keys are set in '{path.split(':', 1)[0]}'"
            return f"bad override {item}: '{key}' is not a key of config '{path}'{hint}"
    return None


def _load_error_message(error: Exception, path: str, file: str) -> str:
    """One line for an exception raised by the config file itself or by an override."""
    if isinstance(error, AttributeError) and "get_config" in str(error):
        return f"config file '{file}' defines no get_config(); define one returning a ConfigDict"
    what = f"{type(error).__name__}: {error_text(error)}".rstrip(": ")
    where = os.path.abspath(file)
    frames = [getattr(error, "filename", None) or ""] + [
        frame.filename for frame in traceback.extract_tb(error.__traceback__)]
    if any(os.path.abspath(f) == where for f in frames if f):
        return f"config file '{file}' failed to load: {what}; fix the file or its get_config()"
    return (f"bad override for config '{path}': {what}; overrides look like "
            f"--config.KEY=VALUE with KEY a value (not a section) of the config")


STUDY_FIELDS = ("baseline", "scientific", "nuisance")


def is_study(config: ConfigDict) -> bool:
    """Whether `config` is a study (`playbook.study.define`) rather than a baseline."""
    return all(field in config for field in STUDY_FIELDS) and "workload" not in config


def check_baseline(config: ConfigDict, path: str, command: str) -> None:
    """ConfigError when a study config is given where a baseline config is expected."""
    if is_study(config):
        raise ConfigError(
            f"'{path}' is a study config (scientific and nuisance hyperparameters), not a "
            f"baseline; run it with `playbook study --config {path} --workdir DIR`, or give "
            f"`playbook {command}` a baseline config (configs/*.py)")


def error_text(error: BaseException) -> str:
    """An exception's message on one line, unwrapped (ml_collections raises an
    AttributeError around a KeyError whose message spans lines)."""
    while len(error.args) == 1 and isinstance(error.args[0], BaseException):
        error = error.args[0]
    text = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


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
                node = node[part] if isinstance(node, ConfigDict) and part in node else None
            if not isinstance(node, ConfigDict) or leaf not in node:
                raise ConfigError(f"'{dotted}' is not a key of the baseline config"
                                  f"{closest(dotted, flat_keys(config))}")
            if isinstance(node[leaf], ConfigDict):
                example = next(iter(flat_keys(node[leaf], f"{dotted}.")), f"{dotted}.KEY")
                raise ConfigError(f"'{dotted}' is a section of the baseline config, not a value; "
                                  f"set its keys instead, e.g. '{example}'")
            if not _fits(node[leaf], value):
                raise ConfigError(f"'{dotted}' = {_repr(value)} does not fit the baseline's "
                                  f"{type(node[leaf]).__name__} value {node[leaf]!r}")
            if isinstance(node[leaf], float) and isinstance(value, int):
                value = float(value)
            node[leaf] = value
    return out


def _repr(value: Any) -> str:
    """A one-line repr (a ConfigDict's own repr is multi-line YAML)."""
    return repr(value.to_dict() if isinstance(value, ConfigDict) else value)


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


def flatten(tree: Mapping[str, Any] | ConfigDict, prefix: str = "") -> dict[str, Any]:
    """Leaf values of a nested mapping (a ConfigDict or its JSON dict) by dotted key."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, (Mapping, ConfigDict)):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def to_dict(config: ConfigDict) -> dict:
    """A JSON-ready plain dict of `config`."""
    return json.loads(config.to_json_best_effort())


def from_dict(d: dict) -> ConfigDict:
    return ConfigDict(d)


def training_defaults() -> ConfigDict:
    """Every training key of a baseline (docs/ARCHITECTURE.md) at its default value.

    A baseline config sets `workload`, `data` and `model` and overrides what
    differs; studies can address only keys that exist, so all are present.
    """
    c = ConfigDict()
    c.optimizer = "adamw"
    c.learning_rate = 3e-3
    c.weight_decay = 0.0
    c.momentum = 0.9
    c.b1 = 0.9
    c.b2 = 0.999
    c.eps = 1e-8
    c.grad_clip_norm = 0.0
    c.schedule = "cosine"
    c.warmup_steps = 0
    c.warmup_fraction = 0.0
    c.lr_end_factor = 0.0
    c.batch_size = 128
    c.eval_batch_size = 0
    c.max_train_steps = 1000
    c.eval_every_steps = 250
    c.log_every_steps = 50
    c.seed = 0
    c.metric = "valid/error_rate"
    c.checkpoint = ConfigDict(dict(keep_best=1, save_latest_every_seconds=60.0,
                                   save_latest_every_steps=0))
    c.divergence_factor = 10.0
    c.stop_collapsed = True
    return c
