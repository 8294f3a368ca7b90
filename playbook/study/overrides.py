"""`--config.KEY=VALUE` on a study: which part of the study each override changes.

`playbook study --config STUDY [--config.KEY=VALUE ...]` takes four kinds of override:

- a study field (`budget`, `seed`, `designer`, `trial_timeout`, ...): set through
  `ml_collections.config_flags`, as for any config file;
- a baseline key (`max_train_steps`, `model.width`, or `fixed.KEY` for a key whose name
  is also a study field, such as the trials' `fixed.seed`): fixed for the whole study, as
  the study's `fixed={...}` would fix it, its value parsed to the baseline's type;
- a nuisance range (`nuisance.KEY.low`/`.high`/`.scale`/`.values`, a branch's as
  `nuisance.KEY.BRANCH.high`): the spec with that field replaced;
- a scientific key's values (`scientific.KEY="['a', 'b']"`).

Each lands in the study config that `StudySpec.from_config` validates, so it is checked
like the file's own entries, recorded in study.json's spec, and a resume under another
override is refused like any other changed config. A baseline key that the study
searches (nuisance) or compares (scientific) is refused with the override that changes
it instead. Nothing here writes or trains.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from typing import Any

from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import search as hp
from playbook.errors import ConfigError, closest
from playbook.study import source, spec_parse

# Fields a spec's range can be changed by from the command line ('when' stays in the file).
RANGE_FIELDS = {hp.Float: ("low", "high", "scale"), hp.Int: ("low", "high", "scale"),
                hp.Discrete: ("values",), hp.Choice: ("values",)}


@dataclasses.dataclass(frozen=True)
class _Override:
    item: str    # as typed: --config.KEY=VALUE
    key: str     # KEY
    raw: str     # VALUE ('' when no '=' was given)


def load(path: str, overrides: Sequence[str] = ()) -> ConfigDict:
    """The study config at `path` with `overrides` applied to its fields, its baseline
    (as `fixed`), its nuisance ranges and its scientific values; ConfigError, one line
    naming the override and what would work, on the first bad one."""
    study = config_lib.load(path)
    if not overrides:
        return study
    if "baseline" not in study or "workload" in study:
        return config_lib.load(path, overrides)  # not a study: from_config says so
    parsed = []
    for item in overrides:
        if not item.startswith("--config."):
            raise ConfigError(f"unexpected argument '{item}'; overrides look like "
                              f"--config.KEY=VALUE")
        key, eq, raw = item[len("--config."):].partition("=")
        parsed.append(_Override(item, key, raw if eq else ""))
    fields = [o.item for o in parsed if o.key.split(".")[0] not in _OWN
              and o.key.split(".")[0] in study]
    if fields:
        study = config_lib.load(path, fields)
    file = path.split(":", 1)[0]
    baseline = spec_parse.load_baseline(study.baseline, path)
    fixed_values = {}
    for o in parsed:
        top, _, rest = o.key.partition(".")
        if top == "nuisance":
            _set_nuisance(study, o, rest, file)
        elif top == "scientific":
            _set_scientific(study, o, rest, file)
        elif top == "fixed" or top not in study:
            key = rest if top == "fixed" else o.key
            _check_baseline_key(study, baseline, o, key, file)
            fixed_values[key] = o
    if fixed_values:
        values = config_lib.parse_overrides(
            baseline, {key: (o.item, o.raw) for key, o in fixed_values.items()})
        with study.unlocked():
            if not isinstance(study.get("fixed", None), ConfigDict):
                study.fixed = ConfigDict(dict(study.get("fixed", None) or {}))
            for key, value in values.items():
                _set_path(study.fixed, key, value)
    return study


_OWN = ("nuisance", "scientific", "fixed")  # the study fields read here, not by config_flags


def _study_fields(study: ConfigDict) -> list[str]:
    return [k for k in study.keys() if k not in ("baseline", "previous", *_OWN)]


def _check_baseline_key(study: ConfigDict, baseline: ConfigDict, o: _Override, key: str,
                        file: str) -> None:
    nuisance = spec_parse.flatten(study.nuisance, spec_parse._is_spec_leaf, "nuisance")
    scientific = spec_parse.flatten(study.scientific, spec_parse._is_values_leaf, "scientific")
    if not key:
        raise ConfigError(f"bad override {o.item}: name a baseline key, e.g. "
                          f"--config.fixed.max_train_steps=200")
    if key in nuisance:
        raise ConfigError(f"bad override {o.item}: {nuisance_hint(key, nuisance[key], file)}")
    if key in scientific:
        raise ConfigError(f"bad override {o.item}: "
                          f"{scientific_hint(key, scientific[key], file)}")
    if not config_lib.has(baseline, key):
        near = _near(key, config_lib.flat_keys(baseline) + _study_fields(study))
        if near in nuisance:
            hint = f"; did you mean '{near}'? {nuisance_hint(near, nuisance[near], file)}"
        elif near in scientific:
            hint = (f"; did you mean '{near}'? "
                    f"{scientific_hint(near, scientific[near], file)}")
        elif near:
            hint = f" (did you mean '{near}'?)"
        else:
            hint = f"; its fields: {', '.join(_study_fields(study))}"
            if isinstance(study.baseline, str):
                hint += f"; the baseline's keys are set in '{study.baseline}'"
        raise ConfigError(f"bad override {o.item}: '{key}' is neither a field of study "
                          f"'{file}' nor a key of its baseline{hint}")
    value = config_lib.get(baseline, key)
    if isinstance(value, ConfigDict):
        example = next(iter(config_lib.flat_keys(value, f"{key}.")), f"{key}.KEY")
        raise ConfigError(f"bad override {o.item}: '{key}' is a section of the baseline, not a "
                          f"value; set one of its keys, e.g. --config.{example}=...")
    if key in spec_parse.STUDY_SET:
        raise ConfigError(f"bad override {o.item}: every trial takes '{key}' from the study's "
                          f"own field; give --config.{key}=... instead")


def _near(name: str, candidates: Sequence[str]) -> str:
    """The candidate closest to `name`, or ''."""
    return closest(name, candidates).partition("'")[2].partition("'")[0]


def nuisance_hint(key: str, spec: Any, file: str) -> str:
    """Says that `key` is searched, and the overrides that change its range."""
    spec = hp.spec_from_any(spec)
    searched = f"'{key}' is a nuisance hyperparameter of this study, searched over " \
               f"{source.spec_source(spec)}"
    if isinstance(spec, hp.Branches):
        value, branch = spec.branches[0]
        where = f"{key}.{value}"
    else:
        branch, where = spec, key
    fields = RANGE_FIELDS.get(type(branch), ())
    if "high" in fields:
        change = f"--config.nuisance.{where}.high={branch.high!r} (or .low)"
    else:
        change = f"--config.nuisance.{where}.values=\"{source.literal(list(branch.values))}\""
    return (f"{searched}; change its range with {change}, or to fix it for every trial move it "
            f"from nuisance to fixed in '{file}'")


def scientific_hint(key: str, values: Any, file: str) -> str:
    """Says that `key` is compared, and the override that changes its values."""
    return (f"'{key}' is scientific in this study (compared over {list(values)}); change the "
            f"values it compares with --config.scientific.{key}="
            f"\"{source.literal(list(values))}\" or in '{file}'")


def _literal(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


def _set_nuisance(study: ConfigDict, o: _Override, rest: str, file: str) -> None:
    nuisance = spec_parse.flatten(study.nuisance, spec_parse._is_spec_leaf, "nuisance")
    key = max((k for k in nuisance if rest == k or rest.startswith(k + ".")), key=len,
              default=None)
    if key is None:
        name = rest.rsplit(".", 1)[0] if rest.endswith((".low", ".high")) else rest
        raise ConfigError(f"bad override {o.item}: '{name}' is not a nuisance hyperparameter "
                          f"of study '{file}'{closest(name, nuisance)}; its nuisance: "
                          f"{', '.join(nuisance) or 'none'} (a new one is added in the file)")
    spec = hp.spec_from_any(nuisance[key])
    path = rest[len(key) + 1:].split(".") if rest != key else []
    if isinstance(spec, hp.Branches):
        names = {str(v): v for v, _ in spec.branches}
        if len(path) != 2 or path[0] not in names:
            raise ConfigError(f"bad override {o.item}: {nuisance_hint(key, spec, file)} (one "
                              f"range per {spec.key}: {', '.join(names)})")
        value = names[path[0]]
        branches = dict(spec.branches)
        branches[value] = _replaced(branches[value], path[1], o, key, spec, file)
        new: Any = hp.Branches(key=spec.key, branches=tuple(branches.items()))
    else:
        if len(path) != 1:
            raise ConfigError(f"bad override {o.item}: {nuisance_hint(key, spec, file)}")
        new = _replaced(spec, path[0], o, key, spec, file)
    with study.unlocked():
        _set_path(study.nuisance, key, new)


def _replaced(branch: hp.Spec, field: str, o: _Override, key: str, spec: Any,
              file: str) -> hp.Spec:
    fields = RANGE_FIELDS.get(type(branch), ())
    if field not in fields:
        raise ConfigError(f"bad override {o.item}: a {branch.kind} range has no field "
                          f"'{field}' that can be set here (it has {', '.join(fields)}); "
                          f"{nuisance_hint(key, spec, file)}")
    value = _literal(o.raw)
    if field == "scale":
        value = o.raw
        if value not in hp.SCALES:
            raise ConfigError(f"bad override {o.item}: scale is one of {', '.join(hp.SCALES)}")
    elif field == "values":
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"bad override {o.item}: give the values as a list, e.g. "
                              f"--config.nuisance.{key}.values=\"{list(branch.values)!r}\"")
        value = tuple(value)
    elif isinstance(branch, hp.Int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"bad override {o.item}: an integer range takes integer bounds, "
                              f"e.g. {getattr(branch, field)!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"bad override {o.item}: a bound is a number, e.g. "
                          f"{getattr(branch, field)!r}")
    else:
        value = float(value)
    return dataclasses.replace(branch, **{field: value})


def _set_scientific(study: ConfigDict, o: _Override, key: str, file: str) -> None:
    scientific = spec_parse.flatten(study.scientific, spec_parse._is_values_leaf, "scientific")
    if key not in scientific:
        raise ConfigError(f"bad override {o.item}: '{key}' is not scientific in study "
                          f"'{file}'{closest(key, scientific)}; its scientific keys: "
                          f"{', '.join(scientific)} (a new one is added in the file)")
    values = _literal(o.raw)
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        example = source.literal(list(scientific[key]))
        raise ConfigError(f"bad override {o.item}: give the values to compare as a list, "
                          f"e.g. --config.scientific.{key}=\"{example}\"")
    with study.unlocked():
        _set_path(study.scientific, key, list(values))


def _set_path(tree: ConfigDict, dotted: str, value: Any) -> None:
    """Sets `tree.a.b.c = value` for 'a.b.c', creating sections where missing."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if part not in node:
            node[part] = ConfigDict()
        node = node[part]
        if not isinstance(node, ConfigDict):
            raise ConfigError(f"'{dotted}' is both a value and a section of the study; give "
                              f"each key once")
    if leaf in node and type(node[leaf]) is not type(value):
        del node[leaf]  # ConfigDict keeps a field's type; the override replaces it whole
    node[leaf] = value
