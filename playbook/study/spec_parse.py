"""Reading a study config: `define` (the config a study file returns) and the parsers
and checks of its fields, each raising a one-line `ConfigError` that names the key and
what would be valid.

`StudySpec.from_config` (playbook/study/spec.py) calls these in order; this module holds
no study state and does no I/O beyond loading the baseline config file (and, for a
trainer's metric, importing the trainer). The selection metric is checked against the
workload by `playbook.goal.validation_metric`.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ml_collections import ConfigDict, config_dict

from playbook import config as config_lib
from playbook import external
from playbook import search as hp
from playbook.errors import ConfigError, closest
from playbook.goal import check, validation_metric

MAX_BUDGET = 10_000  # trials per scientific value; beyond this is a typo, not a study.

# Playbook: "Never tune max_train_steps inside a study"; these keys define the trial's length.
NEVER_NUISANCE = ("max_train_steps",)
# Baseline keys the study sets itself from its own fields (`trial_config`).
STUDY_SET = ("metric",)


def _keywords_checked(function):
    """`function` (keyword arguments only) refusing an unknown or missing keyword, or a
    positional argument, with a one-line ConfigError (Python's TypeError names no
    alternative); its signature stays the one help() and editors show."""
    parameters = inspect.signature(function).parameters
    required = [n for n, p in parameters.items() if p.default is inspect.Parameter.empty]
    where = f"{function.__name__}()"

    @functools.wraps(function)
    def checked(*args, **kwargs):
        if args:
            raise ConfigError(f"{where} takes keyword arguments only, e.g. {where[:-1]}"
                              f"baseline=..., scientific=..., nuisance=..., budget=...); got "
                              f"{len(args)} positional argument(s)")
        for key in kwargs:
            if key not in parameters:
                raise ConfigError(f"{where} has no argument '{key}'{closest(key, parameters)}; "
                                  f"its arguments: {', '.join(parameters)}")
        missing = [name for name in required if name not in kwargs]
        if missing:
            raise ConfigError(f"{where} needs {', '.join(missing)}; its required arguments: "
                              f"{', '.join(required)}")
        return function(**kwargs)

    return checked


@_keywords_checked
def define(*, baseline: str | ConfigDict, scientific: Mapping[str, Sequence[Any]],
           nuisance: Mapping[str, Any], budget: int, metric: str = "",
           goal: str = "", designer: str = "halton", seed: int = 0,
           fixed: Mapping[str, Any] | None = None, name: str = "",
           description: str = "", previous: Mapping[str, Any] | None = None,
           trial_timeout: float | None = None) -> ConfigDict:
    """A study config, written with dotted names (`'model.width': [64, 256]`).

    `baseline` is a config file path (relative to the study file, then to the
    working directory; `FILE:ARG` passes an argument) or a ConfigDict.
    `metric` defaults to the workload's default validation metric; `goal` to
    the metric's direction. `previous` names the round this study continues:
    {'study': its directory (relative to the study file), 'changes': [{'key', 'change',
    'reason'}, ...]} (written by `playbook next`; see playbook/analysis/rounds.py).
    `trial_timeout`: seconds a trial may run before it is stopped and recorded `failed`
    (reason `timeout`); None: no limit. A run setting, not part of the study's question:
    another value on resume (or `playbook study --trial_timeout`) continues the study.
    """
    c = ConfigDict()
    c.name = name
    c.description = description
    c.baseline = baseline
    c.scientific = _nest(scientific, "scientific")
    c.nuisance = _nest(nuisance, "nuisance", specs=True)
    c.fixed = _nest(fixed or {}, "fixed")
    c.budget = budget
    c.designer = designer
    c.metric = metric
    c.goal = goal
    c.seed = seed
    # A typed placeholder when unset, so that --config.trial_timeout=600 can set it.
    c.trial_timeout = (config_dict.placeholder(float) if trial_timeout is None
                       else float(trial_timeout) if _is_number(trial_timeout)
                       else trial_timeout)
    if previous:
        c.previous = dict(previous)
    return c


def _nest(tree: Any, field: str, specs: bool = False) -> dict[str, Any]:
    """{'model.width': v} -> {'model': {'width': v}} (ConfigDict rejects dotted keys)."""
    out: dict[str, Any] = {}
    for dotted, value in _dotted_items(tree, field, specs):
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        if not isinstance(node, dict) or leaf in node:
            raise ConfigError(f"{field} '{dotted}' is given twice (or both as a value and as a "
                              f"section); give each key once")
        node[leaf] = value
    return out


def _dotted_items(tree: Any, field: str, specs: bool, prefix: str = ""):
    """(dotted name, value) for each leaf of nested dicts. With `specs`, a dict with a
    'kind' is a spec in dict form, made a spec here so its own keys stay as they are."""
    if not isinstance(tree, Mapping):
        raise ConfigError(f"'{field}' must be a dict of dotted names to values, e.g. "
                          f"{{'model.width': ...}}; got {tree!r}")
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not (specs and "kind" in value):
            yield from _dotted_items(value, field, specs, f"{name}.")
        elif isinstance(value, Mapping) and specs and "kind" in value:
            yield name, hp.spec_from_any(value)
        else:
            yield name, list(value) if isinstance(value, tuple) else value


def flatten(tree: Any, is_leaf, field: str, prefix: str = "") -> dict[str, Any]:
    items: dict[str, Any] = {}
    if tree is None:
        return items
    if not isinstance(tree, (Mapping, ConfigDict)):
        raise ConfigError(f"'{field}' must be a dict of dotted names to values, e.g. "
                          f"{{'model.width': ...}}; got {tree!r}")
    for key, value in tree.items():
        name = f"{prefix}{key}"
        # An empty dict is a (bad) value, not a section with nothing in it.
        if is_leaf(value) or not isinstance(value, (Mapping, ConfigDict)) or not value:
            items[name] = value
        else:
            items.update(flatten(value, is_leaf, field, name + "."))
    return items


def _is_spec_leaf(value: Any) -> bool:
    return isinstance(value, (hp.Spec, hp.Branches)) or (
        isinstance(value, (Mapping, ConfigDict)) and "kind" in value)


def _is_values_leaf(value: Any) -> bool:
    return not isinstance(value, (Mapping, ConfigDict))


def stem(path: str | None) -> str:
    return os.path.splitext(os.path.basename(path))[0] if path else "study"


def load_baseline(baseline: Any, study_path: str | None) -> ConfigDict:
    if isinstance(baseline, ConfigDict):
        return baseline
    if not isinstance(baseline, str) or not baseline:
        raise ConfigError(f"'baseline' must be a config file path or a ConfigDict, got {baseline!r}")
    file, _, arg = baseline.partition(":")
    candidates = []
    if study_path and not os.path.isabs(file):
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(study_path)), file))
    candidates.append(file)
    for candidate in candidates:
        if os.path.isfile(candidate):
            return config_lib.load(candidate + (f":{arg}" if arg else ""))
    raise ConfigError(f"baseline config '{file}' not found (looked in: {', '.join(candidates)}); "
                      f"give a path relative to the study file or the working directory")


def check_key(baseline: ConfigDict, key: str, role: str) -> None:
    if not config_lib.has(baseline, key):
        raise ConfigError(f"{role} key '{key}' is not in the baseline config"
                          f"{closest(key, config_lib.flat_keys(baseline))}")
    section = config_lib.get(baseline, key)
    if isinstance(section, ConfigDict):
        example = next(iter(config_lib.flat_keys(section, f"{key}.")), f"{key}.KEY")
        raise ConfigError(f"{role} key '{key}' is a section of the baseline config, not a "
                          f"hyperparameter; name one of its keys, e.g. '{example}'")


def check_role_key(baseline: ConfigDict, key: str, role: str) -> None:
    check_key(baseline, key, role)
    if key in STUDY_SET:
        raise ConfigError(f"'{key}' cannot be {role}: every trial takes it from the study's "
                          f"'{key}' field; set {key}=... in the study instead")


def _fits(baseline_value: Any, value: Any) -> bool:
    return config_lib._fits(baseline_value, value)


def parse_scientific(baseline: ConfigDict, tree: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    flat = flatten(tree, _is_values_leaf, "scientific")
    if not flat:
        raise ConfigError("'scientific' names no hyperparameter; give at least one, e.g. "
                          "scientific={'optimizer': ['nesterov', 'adamw']}")
    items = []
    for key, values in flat.items():
        check_role_key(baseline, key, "scientific")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ConfigError(f"scientific '{key}' must list the values to compare, e.g. "
                              f"[{config_lib._repr(values)}, ...]; got {config_lib._repr(values)}")
        values = tuple(values)
        if not values:
            raise ConfigError(f"scientific '{key}' lists no values; give at least one")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"scientific '{key}' lists a value twice: {list(values)}")
        current = config_lib.get(baseline, key)
        for value in values:
            if not _fits(current, value):
                raise ConfigError(f"scientific '{key}' value {value!r} is a "
                                  f"{type(value).__name__} but the baseline's '{key}' is "
                                  f"{current!r} ({type(current).__name__}); give "
                                  f"{type(current).__name__} values")
        items.append((key, values))
    return tuple(items)


def parse_nuisance(baseline: ConfigDict, tree: Any) -> dict[str, hp.Spec | hp.Branches]:
    flat = flatten(tree, _is_spec_leaf, "nuisance")
    nuisance: dict[str, hp.Spec | hp.Branches] = {}
    for key, raw in flat.items():
        check_role_key(baseline, key, "nuisance")
        if key in NEVER_NUISANCE:
            raise ConfigError(f"'{key}' cannot be a nuisance hyperparameter (Playbook: never tune "
                              f"max_train_steps inside a study); fix it in the baseline or make "
                              f"it scientific")
        spec = hp.spec_from_any(raw)
        branches = spec.branches if isinstance(spec, hp.Branches) else ((None, spec),)
        for value, branch in branches:
            label = key if value is None else f"{key}@{spec.key}={value}"
            branch.check(label)
            hp.check_limits(key, branch)
            _check_spec_type(baseline, key, label, branch)
        nuisance[key] = spec
    return nuisance


def _check_spec_type(baseline: ConfigDict, key: str, label: str, spec: hp.Spec) -> None:
    current = config_lib.get(baseline, key)
    if current is None:
        return
    if isinstance(spec, hp.Float) and (isinstance(current, bool) or
                                       not isinstance(current, float)):
        hint = ("hp.int_range" if isinstance(current, int) and not isinstance(current, bool)
                else "hp.choice")
        raise ConfigError(f"nuisance '{label}' is a real range but the baseline's '{key}' is "
                          f"{current!r} ({type(current).__name__}); use {hint}")
    if isinstance(spec, hp.Int) and (isinstance(current, bool) or
                                     not isinstance(current, (int, float))):
        raise ConfigError(f"nuisance '{label}' is an integer range but the baseline's '{key}' "
                          f"is {current!r} ({type(current).__name__}); use hp.choice")
    if isinstance(spec, (hp.Choice, hp.Discrete)):
        for value in spec.values:
            if not _fits(current, value):
                raise ConfigError(f"nuisance '{label}' value {value!r} is a "
                                  f"{type(value).__name__} but the baseline's '{key}' is "
                                  f"{current!r} ({type(current).__name__})")


def parse_budget(budget: Any) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"'budget' (trials per scientific value) must be a positive integer, "
                          f"got {budget!r}")
    if budget > MAX_BUDGET:
        raise ConfigError(f"'budget' of {budget} trials per scientific value exceeds "
                          f"{MAX_BUDGET}; split the search into rounds")
    return budget


def parse_seed(value: Any) -> int:
    # The designers seed numpy, which takes seeds in [0, 2**32) (and larger, but nothing needs them).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ConfigError(f"'seed' must be an integer in [0, 2**32), got {value!r}; e.g. seed=0")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_trial_timeout(value: Any, flag: bool = False) -> float | None:
    """Seconds per trial before it is stopped, a positive finite number; None: no limit.
    `flag`: the value came from the command line (`--trial_timeout`), and the error says so."""
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        if flag:
            raise ConfigError(f"--trial_timeout must be a positive number of seconds, got "
                              f"{value:g}; e.g. --trial_timeout 600")
        raise ConfigError(f"'trial_timeout' must be a positive number of seconds, got "
                          f"{value!r}; e.g. trial_timeout=600, or None for no limit")
    return float(value)


def parse_previous(value: Any, study_path: str | None) -> dict[str, Any]:
    """The round a study continues: its directory made absolute (relative paths are
    relative to the study file) and the changes with their reasons, as plain JSON."""
    if value is None or (hasattr(value, "keys") and not len(value)):
        return {}
    plain = config_lib.to_dict(value) if isinstance(value, ConfigDict) else value
    if not isinstance(plain, Mapping) or not isinstance(plain.get("study"), str):
        raise ConfigError(f"'previous' must be a dict with the previous round's study directory, "
                          f"e.g. previous={{'study': 'runs/round1', 'changes': []}}; got {value!r}")
    changes = plain.get("changes") or []
    if not isinstance(changes, (list, tuple)) or not all(isinstance(c, Mapping) for c in changes):
        raise ConfigError(f"'previous.changes' must be a list of dicts (key, change, reason); "
                          f"got {changes!r}")
    study = plain["study"]
    if study_path and not os.path.isabs(study):
        study = os.path.join(os.path.dirname(os.path.abspath(study_path)), study)
    out = json.loads(json.dumps({**plain, "study": os.path.normpath(study),
                                 "changes": [dict(c) for c in changes]}, default=str))
    return out


def parse_str(name: str, value: Any) -> str:
    """A text field; None or '' mean its default."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"'{name}' must be a string, got {value!r} "
                          f"({type(value).__name__}); leave it out for the default")
    return value


def resolve_metric(baseline: ConfigDict, metric: str, goal: str) -> tuple[str, str]:
    """The selection metric (`valid/<name>`) and its goal, checked against the workload."""
    from playbook import workloads  # Imports JAX; only needed once a baseline is known.

    workload = workloads.get(baseline.get("workload", None))
    if not metric:
        metric = str(baseline.get("metric", "") or f"valid/{workload.default_metric}")
    expected = validation_metric(metric, workload.metric_goals, workload.name).direction
    if goal:
        check(goal)
    if goal and goal != expected:
        raise ConfigError(f"goal '{goal}' contradicts metric '{metric}', which workload "
                          f"'{workload.name}' defines to {expected}; drop 'goal' or use '{expected}'")
    return metric, expected


def resolve_trainer_metric(baseline: ConfigDict, metric: str, goal: str) -> tuple[str, str]:
    """An external trainer's metric (the study's, else the baseline's `metric`: any name
    it logs) and its goal (`external.trainer_metric_goal`)."""
    metric = metric or str(baseline.get("metric", "") or "")
    if not metric:
        raise ConfigError(f"the study of trainer '{external.trainer_of(baseline)}' needs a "
                          f"metric: the name of one it logs, e.g. metric='eval_accuracy' in the "
                          f"study or the baseline")
    return metric, external.trainer_metric_goal(metric, goal,
                                                baseline.get(external.GOAL_KEY, ""))


def with_keys(config: ConfigDict, values: Mapping[str, Any]) -> ConfigDict:
    """A copy of `config` with top-level `values` set, added where missing."""
    out = copy.deepcopy(config)
    with out.unlocked():
        for key, value in values.items():
            out[key] = value
    return out
