"""A study's declaration, validated against its baseline before anything runs.

A study config names the **scientific** hyperparameters (values to compare; the
cross product of several keys), the **nuisance** search space (optimised for
each scientific value), optional study-wide overrides of the baseline, the
budget (trials per scientific value), the designer, and the metric and its
goal. Every baseline key not named is **fixed** (Playbook, "Identifying
scientific, nuisance, and fixed hyperparameters").

`StudySpec.from_config` checks everything a user can get wrong in a config and
raises a one-line `ConfigError` naming the key and what would be valid.
`StudySpec.trials` turns designer points into trials. A baseline naming its
own `trainer` (`playbook.external`) is checked by importing that function; its
metric is any name the trainer logs. This module does no I/O beyond loading the
baseline config file (and that import) and trains nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import designers, external
from playbook import search as hp
from playbook.errors import ConfigError, closest

GOALS = ("minimize", "maximize")
MAX_BUDGET = 10_000  # trials per scientific value; beyond this is a typo, not a study.
# Playbook: "Never tune max_train_steps inside a study"; these keys define the trial's length.
NEVER_NUISANCE = ("max_train_steps",)
# Baseline keys the study sets itself from its own fields (`trial_config`).
STUDY_SET = ("metric",)


def define(*, baseline: str | ConfigDict, scientific: Mapping[str, Sequence[Any]],
           nuisance: Mapping[str, Any], budget: int, metric: str = "",
           goal: str = "", designer: str = "halton", seed: int = 0,
           fixed: Mapping[str, Any] | None = None, name: str = "",
           description: str = "", previous: Mapping[str, Any] | None = None) -> ConfigDict:
    """A study config, written with dotted names (`'model.width': [64, 256]`).

    `baseline` is a config file path (relative to the study file, then to the
    working directory; `FILE:ARG` passes an argument) or a ConfigDict.
    `metric` defaults to the workload's default validation metric; `goal` to
    the metric's direction. `previous` names the round this study continues:
    {'study': its directory (relative to the study file), 'changes': [{'key', 'change',
    'reason'}, ...]} (written by `playbook next`; see playbook/analysis/rounds.py).
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


def _flatten(tree: Any, is_leaf, field: str, prefix: str = "") -> dict[str, Any]:
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
            items.update(_flatten(value, is_leaf, field, name + "."))
    return items


def _is_spec_leaf(value: Any) -> bool:
    return isinstance(value, (hp.Spec, hp.Branches)) or (
        isinstance(value, (Mapping, ConfigDict)) and "kind" in value)


def _is_values_leaf(value: Any) -> bool:
    return not isinstance(value, (Mapping, ConfigDict))


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial of a study: its id, scientific and nuisance values, and its point."""

    trial_id: str
    index: int            # position in the designer's sequence
    scientific: dict[str, Any]
    nuisance: dict[str, Any]
    point: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "scientific": self.scientific,
                "nuisance": self.nuisance}


@dataclasses.dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    baseline: ConfigDict
    scientific: tuple[tuple[str, tuple[Any, ...]], ...]
    nuisance: dict[str, hp.Spec | hp.Branches]
    fixed: dict[str, Any]
    budget: int
    designer: str
    metric: str
    goal: str
    seed: int
    previous: dict[str, Any] = dataclasses.field(default_factory=dict)  # the round it continues

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_config(cls, study: ConfigDict, study_path: str | None = None) -> StudySpec:
        """Parses and validates a study config; ConfigError on the first problem."""
        known = {"name", "description", "baseline", "scientific", "nuisance", "fixed", "budget",
                 "designer", "metric", "goal", "seed", "previous"}
        if "workload" in study and "scientific" not in study:
            where = f"'{study_path}'" if study_path else "this config"
            raise ConfigError(
                f"{where} is a baseline config (one trial's settings), not a study; train it "
                f"with `playbook train --config {study_path or 'FILE'} --workdir DIR`, or "
                f"write a study with define(baseline=...) (see configs/studies/)")
        for key in study.keys():
            if key not in known:
                raise ConfigError(f"unknown study field '{key}'{closest(key, known)}; "
                                  f"valid fields: {', '.join(sorted(known))}")
        for key in ("baseline", "scientific", "nuisance", "budget"):
            if key not in study or study[key] is None:
                raise ConfigError(f"the study config has no '{key}'; see configs/studies/ for "
                                  f"examples")
        baseline = _load_baseline(study.baseline, study_path)
        fixed = _flatten(study.get("fixed", None) or {}, lambda v: False, "fixed")
        for key, value in fixed.items():
            _check_role_key(baseline, key, "fixed")
            baseline = config_lib.with_values(baseline, {key: value})
        scientific = _parse_scientific(baseline, study.scientific)
        nuisance = _parse_nuisance(baseline, study.nuisance)
        for key, _ in scientific:
            if key in nuisance:
                raise ConfigError(f"'{key}' is both scientific and nuisance; give it one role "
                                  f"(compare its values as scientific, or search it as nuisance)")
        for key in fixed:
            if key in nuisance or key in dict(scientific):
                raise ConfigError(f"'{key}' is both fixed and "
                                  f"{'nuisance' if key in nuisance else 'scientific'}; "
                                  f"give it one role")
        spec = cls(
            name=_parse_str("name", study.get("name", "")) or _stem(study_path),
            description=_parse_str("description", study.get("description", "")),
            baseline=baseline,
            scientific=scientific,
            nuisance=nuisance,
            fixed=fixed,
            budget=_parse_budget(study.budget),
            designer=_parse_str("designer", study.get("designer", "")) or "halton",
            metric="",
            goal="",
            seed=_parse_seed(study.get("seed", 0)),
            previous=_parse_previous(study.get("previous", None), study_path),
        )
        designers.create(spec.designer, 0, 0)  # Unknown designer names fail here.
        metric, goal = (_parse_str("metric", study.get("metric", "")),
                        _parse_str("goal", study.get("goal", "")))
        if external.trainer_of(baseline):
            metric, goal = _resolve_trainer_metric(baseline, metric, goal)
            # Each trial's trainer reads them from its config (external_trainer).
            spec = dataclasses.replace(spec, baseline=_with_keys(
                baseline, {"metric": metric, external.GOAL_KEY: goal}))
        else:
            metric, goal = _resolve_metric(baseline, metric, goal)
        spec = dataclasses.replace(spec, metric=metric, goal=goal)
        spec._check_conditions()
        spec._check_branches()
        spec._check_trainable()
        return spec

    @classmethod
    def load(cls, path: str, overrides: Sequence[str] = ()) -> StudySpec:
        """Loads and validates the study config file at `path`."""
        return cls.from_config(config_lib.load(path, overrides), path)

    # -- the trials -------------------------------------------------------------------

    @property
    def dimensions(self) -> list[hp.Dimension]:
        return hp.dimensions(self.nuisance)

    def scientific_values(self) -> list[dict[str, Any]]:
        """Every combination of scientific values, in declaration order."""
        keys = [k for k, _ in self.scientific]
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(v for _, v in self.scientific))]

    def trials(self, points: Sequence[Sequence[float]], start_index: int = 0) -> list[Trial]:
        """Trials for designer points `start_index, start_index + 1, ...`.

        Paired design: every scientific value is trained at the same nuisance
        points, so comparisons between scientific values are not confounded by
        where each happened to sample (less noisy than independent samples for
        the same budget). Trial ids number points first, then scientific values.
        """
        combos = self.scientific_values()
        dims = self.dimensions
        trials = []
        for offset, point in enumerate(points):
            index = start_index + offset
            for s, scientific in enumerate(combos):
                context = _context(self.baseline, scientific)
                nuisance = hp.assign(dims, point, context)
                trials.append(Trial(trial_id=f"{index * len(combos) + s:04d}", index=index,
                                    scientific=scientific, nuisance=nuisance,
                                    point=tuple(float(u) for u in point)))
        return trials

    def new_designer(self) -> designers.Designer:
        return designers.create(self.designer, len(self.dimensions), self.seed)

    def trial_config(self, trial: Trial) -> ConfigDict:
        """The baseline with the trial's scientific and nuisance values set."""
        values = {**trial.scientific, **trial.nuisance}
        if "metric" in self.baseline:
            # Each trial keeps its best checkpoint by the study's metric.
            values["metric"] = self.metric
        return config_lib.with_values(self.baseline, values)

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "description": self.description,
            "baseline": config_lib.to_dict(self.baseline),
            "scientific": {k: list(v) for k, v in self.scientific},
            "nuisance": {k: s.to_dict() for k, s in self.nuisance.items()},
            "fixed": self.fixed,
            "budget": self.budget,
            "designer": self.designer,
            "metric": self.metric,
            "goal": self.goal,
            "seed": self.seed,
        }
        if self.previous:  # Absent for a first round, so studies written before still resume.
            d["previous"] = self.previous
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudySpec:
        """The spec stored by `to_dict`; ConfigError if `d` is not one (e.g. hand-edited)."""
        try:
            return cls(
                name=d["name"], description=d.get("description", ""),
                baseline=ConfigDict(d["baseline"]),
                scientific=tuple((k, tuple(v)) for k, v in d["scientific"].items()),
                nuisance={k: hp.spec_from_any(s) for k, s in d["nuisance"].items()},
                fixed=dict(d.get("fixed", {})), budget=int(d["budget"]), designer=d["designer"],
                metric=d["metric"], goal=d["goal"], seed=int(d["seed"]),
                previous=dict(d.get("previous") or {}))
        except ConfigError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            detail = (str(e).splitlines() or [""])[0]
            raise ConfigError(f"the stored study spec is malformed ({type(e).__name__}: {detail}); "
                              f"restore study.json or rerun the study config into a new "
                              f"--workdir") from None

    # -- validation helpers -----------------------------------------------------------

    def _possible_values(self, key: str) -> tuple[Any, ...] | None:
        """Values `key` can take in this study, or None when any value is possible."""
        sci = dict(self.scientific)
        if key in sci:
            return sci[key]
        if key in self.nuisance:
            spec = self.nuisance[key]
            if isinstance(spec, (hp.Choice, hp.Discrete)):
                return spec.values
            return None
        return (config_lib.get(self.baseline, key),)

    def _check_trainable(self) -> None:
        """Every scientific value, at the corners and centre of the nuisance cube, must give
        a config that can train (checked without data); the error names the trial's values."""
        from playbook.train import checks  # Imports JAX and optax.

        dim = len(self.dimensions)
        points = [[0.0] * dim, [0.5] * dim, [1.0] * dim]
        for trial in self.trials(points):
            config = self.trial_config(trial)
            if external.trainer_of(config):  # its own code: only its reference can be checked
                external.load_trainer(external.trainer_of(config))
                continue
            try:
                checks.check(config)
            except ConfigError as e:
                where = " ".join(f"{k}={v!r}" for k, v in {**trial.scientific,
                                                           **trial.nuisance}.items())
                raise ConfigError(f"{e} (in the trial with {where})") from None

    def _check_branches(self) -> None:
        """Every value the branch key takes needs its branch: without one, its trials keep
        the baseline's value, untuned, and the comparison of scientific values is unfair."""
        for key, spec in self.nuisance.items():
            if not isinstance(spec, hp.Branches):
                continue
            possible = self._possible_values(spec.key)
            named = [value for value, _ in spec.branches]
            missing = [value for value in possible or () if value not in named]
            if missing:
                raise ConfigError(
                    f"nuisance '{key}' has no branch for {spec.key}={missing[0]!r} (its "
                    f"hp.branches name {named}): those trials would keep the baseline's "
                    f"{key}={config_lib.get(self.baseline, key)!r} untuned; add a branch for "
                    f"{missing[0]!r}, or declare '{key}' with when={{'{spec.key}': [...]}} if it "
                    f"does not apply to {missing[0]!r}")

    def _check_conditions(self) -> None:
        for key, spec in self.nuisance.items():
            specs = [b for _, b in spec.branches] if isinstance(spec, hp.Branches) else [spec]
            for branch in specs:
                for cond_key, values in branch.when:
                    if cond_key == key:
                        raise ConfigError(f"'{key}' has a condition on itself")
                    _check_key(self.baseline, cond_key, f"the condition of '{key}'")
                    possible = self._possible_values(cond_key)
                    if possible is None:
                        continue
                    for value in values:
                        if value not in possible:
                            raise ConfigError(
                                f"'{key}' is conditioned on {cond_key}={value!r}, a value "
                                f"'{cond_key}' never takes in this study; its values: "
                                f"{list(possible)}")


def _stem(path: str | None) -> str:
    return os.path.splitext(os.path.basename(path))[0] if path else "study"


def _load_baseline(baseline: Any, study_path: str | None) -> ConfigDict:
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


def _check_key(baseline: ConfigDict, key: str, role: str) -> None:
    if not config_lib.has(baseline, key):
        raise ConfigError(f"{role} key '{key}' is not in the baseline config"
                          f"{closest(key, config_lib.flat_keys(baseline))}")
    section = config_lib.get(baseline, key)
    if isinstance(section, ConfigDict):
        example = next(iter(config_lib.flat_keys(section, f"{key}.")), f"{key}.KEY")
        raise ConfigError(f"{role} key '{key}' is a section of the baseline config, not a "
                          f"hyperparameter; name one of its keys, e.g. '{example}'")


def _check_role_key(baseline: ConfigDict, key: str, role: str) -> None:
    _check_key(baseline, key, role)
    if key in STUDY_SET:
        raise ConfigError(f"'{key}' cannot be {role}: every trial takes it from the study's "
                          f"'{key}' field; set {key}=... in the study instead")


def _fits(baseline_value: Any, value: Any) -> bool:
    return config_lib._fits(baseline_value, value)


def _parse_scientific(baseline: ConfigDict, tree: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    flat = _flatten(tree, _is_values_leaf, "scientific")
    if not flat:
        raise ConfigError("'scientific' names no hyperparameter; give at least one, e.g. "
                          "scientific={'optimizer': ['nesterov', 'adamw']}")
    items = []
    for key, values in flat.items():
        _check_role_key(baseline, key, "scientific")
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


def _parse_nuisance(baseline: ConfigDict, tree: Any) -> dict[str, hp.Spec | hp.Branches]:
    flat = _flatten(tree, _is_spec_leaf, "nuisance")
    nuisance: dict[str, hp.Spec | hp.Branches] = {}
    for key, raw in flat.items():
        _check_role_key(baseline, key, "nuisance")
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


def _parse_budget(budget: Any) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"'budget' (trials per scientific value) must be a positive integer, "
                          f"got {budget!r}")
    if budget > MAX_BUDGET:
        raise ConfigError(f"'budget' of {budget} trials per scientific value exceeds "
                          f"{MAX_BUDGET}; split the search into rounds")
    return budget


def _parse_seed(value: Any) -> int:
    # The designers seed numpy, which takes seeds in [0, 2**32) (and larger, but nothing needs them).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ConfigError(f"'seed' must be an integer in [0, 2**32), got {value!r}; e.g. seed=0")
    return value


def _parse_previous(value: Any, study_path: str | None) -> dict[str, Any]:
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


def _parse_str(name: str, value: Any) -> str:
    """A text field; None or '' mean its default."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"'{name}' must be a string, got {value!r} "
                          f"({type(value).__name__}); leave it out for the default")
    return value


def _resolve_metric(baseline: ConfigDict, metric: str, goal: str) -> tuple[str, str]:
    """The selection metric (`valid/<name>`) and its goal, checked against the workload."""
    from playbook import workloads  # Imports JAX; only needed once a baseline is known.

    workload = workloads.get(baseline.get("workload", None))
    if not metric:
        metric = str(baseline.get("metric", "") or f"valid/{workload.default_metric}")
    split, _, name = metric.partition("/")
    valid = [f"valid/{m}" for m in workload.metric_goals]
    if split != "valid" or name not in workload.metric_goals:
        raise ConfigError(f"metric '{metric}' is not a validation metric of workload "
                          f"'{workload.name}'{closest(metric, valid)}; valid metrics: "
                          f"{', '.join(valid)}")
    expected = workload.metric_goals[name]
    if goal and goal not in GOALS:
        raise ConfigError(f"'goal' must be one of {', '.join(GOALS)}, got '{goal}'")
    if goal and goal != expected:
        raise ConfigError(f"goal '{goal}' contradicts metric '{metric}', which workload "
                          f"'{workload.name}' defines to {expected}; drop 'goal' or use '{expected}'")
    return metric, expected


def _resolve_trainer_metric(baseline: ConfigDict, metric: str, goal: str) -> tuple[str, str]:
    """An external trainer's metric (the study's, else the baseline's `metric`: any name
    it logs) and its goal (`external.trainer_metric_goal`)."""
    metric = metric or str(baseline.get("metric", "") or "")
    if not metric:
        raise ConfigError(f"the study of trainer '{external.trainer_of(baseline)}' needs a "
                          f"metric: the name of one it logs, e.g. metric='eval_accuracy' in the "
                          f"study or the baseline")
    return metric, external.trainer_metric_goal(metric, goal,
                                                baseline.get(external.GOAL_KEY, ""))


def _with_keys(config: ConfigDict, values: Mapping[str, Any]) -> ConfigDict:
    """A copy of `config` with top-level `values` set, added where missing."""
    out = copy.deepcopy(config)
    with out.unlocked():
        for key, value in values.items():
            out[key] = value
    return out


def _context(baseline: ConfigDict, scientific: Mapping[str, Any]) -> dict[str, Any]:
    """Values conditions can refer to: the baseline's leaves, overridden by scientific values."""
    context = {key: config_lib.get(baseline, key) for key in config_lib.flat_keys(baseline)}
    context.update(scientific)
    return context
