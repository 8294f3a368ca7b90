"""Hyperparameter specs: the ranges a study searches, their scales, and conditions.

A spec maps a coordinate of the unit interval to a value (`from_unit`) and back
(`to_unit`), so designers work in the unit cube and never see scales. Specs are
small frozen dataclasses that serialise to plain dicts (`to_dict`/`from_dict`),
which is how `study.json` stores a search space. The values a key can take at all
are in limits.py (`check_limits` holds a range to them). This module knows nothing of
configs or studies; `playbook.study.spec` checks specs against a baseline.

Scales (Playbook, "Choosing the search space"):
- `linear`: uniform in [low, high];
- `log`: uniform in log space, for learning rates and weight decay;
- `reverse_log`: uniform in log(1 - x), for momentum and Adam betas near 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from playbook.errors import ConfigError, closest
from playbook.limits import NATURAL_LIMITS as NATURAL_LIMITS
from playbook.limits import Limits as Limits
from playbook.limits import natural_limits

SCALES = ("linear", "log", "reverse_log")


def check_limits(key: str, spec: Spec) -> None:
    """ConfigError if the range of `spec` leaves the natural limits of `key`."""
    limits = natural_limits(key)
    if limits is None or not isinstance(spec, (Float, Int, Discrete)):
        return
    values = spec.values if isinstance(spec, Discrete) else (spec.low, spec.high)
    for value in values:
        if not limits.contains(float(value)):
            raise ConfigError(f"'{key}' = {value:g} is outside its natural limits "
                              f"{limits.describe()}; keep the range inside them (e.g. "
                              f"hp.reverse_log(0.0, 0.999) for momentum)")

Condition = tuple[tuple[str, tuple[Any, ...]], ...]


def _freeze_when(when: Mapping[str, Any] | None) -> Condition:
    """{'optimizer': 'nesterov'} or {'optimizer': ['adam', 'adamw']} as a hashable tuple."""
    if not when:
        return ()
    if not isinstance(when, Mapping):
        raise ConfigError(f"a condition must be a dict of key to value(s), e.g. "
                          f"when={{'optimizer': 'nesterov'}}; got {when!r}")
    items = []
    for key, values in when.items():
        if isinstance(values, (list, tuple)):
            values = tuple(values)
        else:
            values = (values,)
        if not values:
            raise ConfigError(f"condition on '{key}' lists no values; give at least one")
        items.append((str(key), values))
    return tuple(sorted(items))


@dataclasses.dataclass(frozen=True)
class Spec:
    """Base of all specs. `when` restricts the spec to configs where every named
    key takes one of the listed values (a conditional hyperparameter)."""

    when: Condition = ()

    kind = "spec"

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    def to_unit(self, value: Any) -> float:
        raise NotImplementedError

    def check(self, name: str) -> None:
        """Raises ConfigError naming `name` if the spec itself is malformed."""

    def active(self, assignment: Mapping[str, Any]) -> bool:
        """Whether this parameter exists given the values of the other keys."""
        return all(assignment.get(key, _MISSING) in values for key, values in self.when)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "when":
                value = {k: list(v) for k, v in value}
                if not value:
                    continue
            elif isinstance(value, tuple):
                value = list(value)
            d[field.name] = value
        return d

    def describe(self) -> str:
        raise NotImplementedError


_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Float(Spec):
    low: float = 0.0
    high: float = 1.0
    scale: str = "linear"

    kind = "float"

    def check(self, name: str) -> None:
        _check_range(name, self.low, self.high, self.scale, SCALES,
                     f"hp.linear({self.low!r}, {self.high!r})")

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        elif self.scale == "reverse_log":
            # 1 - x is log-uniform in [1 - high, 1 - low]; u = 0 gives low, u = 1 gives high.
            a, b = 1.0 - self.low, 1.0 - self.high
            x = 1.0 - a * (b / a) ** u
        else:
            x = self.low + u * (self.high - self.low)
        # exp and log round: without the clip, u = 1 can land just past `high`.
        return float(min(max(x, self.low), self.high))

    def to_unit(self, value: Any) -> float:
        x = float(value)
        if self.scale == "log":
            u = (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        elif self.scale == "reverse_log":
            a, b = 1.0 - self.low, 1.0 - self.high
            u = math.log((1.0 - x) / a) / math.log(b / a)
        else:
            u = (x - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)

    def describe(self) -> str:
        return f"{self.scale} [{self.low:g}, {self.high:g}]"


@dataclasses.dataclass(frozen=True)
class Int(Spec):
    low: int = 0
    high: int = 1
    scale: str = "linear"

    kind = "int"

    def check(self, name: str) -> None:
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise ConfigError(f"integer range of '{name}' has non-integer bound {bound!r}; "
                                  f"use hp.float_range for real values")
        _check_range(name, self.low, self.high, self.scale, ("linear", "log"),
                     f"hp.int_range({self.low!r}, {self.high!r})")

    def from_unit(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        # Linear: each integer gets an equal share. Log: rounded log-uniform values.
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            value = round(math.exp(lo + u * (hi - lo)))
        else:
            value = math.floor(self.low + u * (self.high - self.low + 1))
        return int(min(max(value, self.low), self.high))

    def to_unit(self, value: Any) -> float:
        x = float(value)
        if self.scale == "log":
            u = (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (x + 0.5 - self.low) / (self.high - self.low + 1)
        return min(max(u, 0.0), 1.0)

    def describe(self) -> str:
        return f"int {self.scale} [{self.low}, {self.high}]"


@dataclasses.dataclass(frozen=True)
class Discrete(Spec):
    """An ordered list of numbers, e.g. warmup steps [10, 100, 1000]."""

    values: tuple[Any, ...] = ()

    kind = "discrete"

    def check(self, name: str) -> None:
        _check_values(name, self.values)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in self.values):
            raise ConfigError(f"discrete values of '{name}' must be numbers, got "
                              f"{list(self.values)}; use hp.choice for categories")

    def from_unit(self, u: float) -> Any:
        return self.values[_index(u, len(self.values))]

    def to_unit(self, value: Any) -> float:
        return (self.values.index(value) + 0.5) / len(self.values)

    def describe(self) -> str:
        return f"discrete {list(self.values)}"


@dataclasses.dataclass(frozen=True)
class Choice(Spec):
    """An unordered categorical choice, e.g. activation in ['relu', 'gelu']."""

    values: tuple[Any, ...] = ()

    kind = "choice"

    def check(self, name: str) -> None:
        _check_values(name, self.values)

    def from_unit(self, u: float) -> Any:
        return self.values[_index(u, len(self.values))]

    def to_unit(self, value: Any) -> float:
        return (self.values.index(value) + 0.5) / len(self.values)

    def describe(self) -> str:
        return f"choice {list(self.values)}"


def _index(u: float, n: int) -> int:
    return min(int(math.floor(min(max(float(u), 0.0), 1.0) * n)), n - 1)


def _check_values(name: str, values: Sequence[Any]) -> None:
    if len(values) == 0:
        raise ConfigError(f"'{name}' lists no values; give at least one")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"'{name}' lists a value twice: {list(values)}")


def _check_range(name: str, low: Any, high: Any, scale: str, scales: Sequence[str],
                 linear: str) -> None:
    """ConfigError for a bad range; `linear`: the way out, as a study writes it (hp.linear)."""
    if scale not in scales:
        raise ConfigError(f"'{name}' has scale '{scale}'; valid scales: {', '.join(scales)}")
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise ConfigError(f"range of '{name}' has bound {bound!r}; bounds must be finite numbers")
    if not low < high:
        kind = "empty" if low == high else "inverted"
        raise ConfigError(f"range of '{name}' is {kind}: [{low}, {high}]; give low < high "
                          f"(for a single value, fix '{name}' in the baseline instead)")
    if scale == "log" and low <= 0:
        raise ConfigError(f"log range of '{name}' must be > 0, got [{low}, {high}]; "
                          f"use {linear} or a positive low bound such as {high / 1000:g}")
    if scale == "reverse_log" and high >= 1:
        raise ConfigError(f"reverse_log range of '{name}' must stay below 1, got [{low}, {high}]; "
                          f"use a high bound such as 0.999, or {linear}")
    span = {"log": lambda: math.log(high) - math.log(low),
            "reverse_log": lambda: math.log(1.0 - low) - math.log(1.0 - high)}.get(scale)
    if span is not None and not span() > 0:
        raise ConfigError(f"{scale} range of '{name}' [{low}, {high}] is narrower than float "
                          f"precision on that scale; widen it, or fix '{name}' in the baseline")


@dataclasses.dataclass(frozen=True)
class Branches:
    """One hyperparameter whose range depends on the value of another key.

    The playbook asks to namespace conditional hyperparameters per branch: the
    learning rate of Nesterov and of Adam are different hyperparameters whose
    good ranges differ by orders of magnitude. Each branch has its own range
    and scale; in `dimensions` the branches share one coordinate.
    """

    key: str
    branches: tuple[tuple[Any, Spec], ...]

    kind = "branches"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key,
                "branches": [[value, spec.to_dict()] for value, spec in self.branches]}


# -- Constructors used in study configs --------------------------------------------


def float_range(low: float, high: float, scale: str = "linear", when=None) -> Float:
    return Float(low=low, high=high, scale=scale, when=_freeze_when(when))


def log(low: float, high: float, when=None) -> Float:
    """Uniform in log space (learning rates, weight decay, epsilon)."""
    return float_range(low, high, "log", when)


def linear(low: float, high: float, when=None) -> Float:
    return float_range(low, high, "linear", when)


def reverse_log(low: float, high: float, when=None) -> Float:
    """Log-spaced in 1 - x: dense near 1 (momentum, Adam betas)."""
    return float_range(low, high, "reverse_log", when)


def int_range(low: int, high: int, scale: str = "linear", when=None) -> Int:
    return Int(low=low, high=high, scale=scale, when=_freeze_when(when))


def discrete(values: Sequence[Any], when=None) -> Discrete:
    return Discrete(values=_as_values(values, "discrete"), when=_freeze_when(when))


def choice(values: Sequence[Any], when=None) -> Choice:
    return Choice(values=_as_values(values, "choice"), when=_freeze_when(when))


def _as_values(values: Any, kind: str) -> tuple[Any, ...]:
    # A string is a sequence too, but hp.choice('relu') means a typo, not ('r', 'e', 'l', 'u').
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(f"the values of a {kind} spec must be a list, e.g. hp.{kind}"
                          f"([{values!r}, ...]); got {values!r}")
    return tuple(values)


def branches(key: str, by_value: Mapping[Any, Spec]) -> Branches:
    """`learning_rate=hp.branches('optimizer', {'nesterov': hp.log(1e-3, 1), 'adamw': ...})`."""
    if not isinstance(key, str) or not key:
        raise ConfigError(f"branches need the name of the key they depend on, e.g. "
                          f"hp.branches('optimizer', {{...}}); got {key!r}")
    if not isinstance(by_value, Mapping) or not by_value:
        raise ConfigError(f"branches on '{key}' need a dict of value to spec, e.g. "
                          f"{{'adamw': hp.log(1e-4, 1e-1)}}; got {by_value!r}")
    items = []
    for value, spec in by_value.items():
        spec = spec_from_any(spec)
        if isinstance(spec, Branches):
            raise ConfigError(f"branches on '{key}' cannot nest other branches")
        items.append((value, dataclasses.replace(
            spec, when=tuple(sorted(dict(spec.when, **{key: (value,)}).items())))))
    return Branches(key=key, branches=tuple(items))


def spec_from_any(value: Any) -> Spec | Branches:
    """A spec from a spec or its dict form (as stored in study.json or a ConfigDict)."""
    if isinstance(value, (Spec, Branches)):
        return value
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if not isinstance(value, Mapping) or "kind" not in value:
        raise ConfigError(f"expected a hyperparameter spec such as hp.log(1e-4, 1e-1), got {value!r}")
    d = dict(value)
    kind = d.pop("kind")
    if kind == "branches":
        pairs = d.get("branches")
        if (set(d) != {"key", "branches"} or not isinstance(pairs, (list, tuple))
                or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs)
                or not all(_hashable(v) for v, _ in pairs)):
            raise ConfigError(f"a branches spec is {{'kind': 'branches', 'key': KEY, 'branches': "
                              f"[[value, spec], ...]}}; got {value!r}")
        return branches(d["key"], {v: spec_from_any(s) for v, s in pairs})
    classes = {"float": Float, "int": Int, "discrete": Discrete, "choice": Choice}
    if not isinstance(kind, str) or kind not in classes:
        raise ConfigError(f"unknown spec kind {kind!r}; valid kinds: {', '.join(classes)}, branches")
    fields = [f.name for f in dataclasses.fields(classes[kind])]
    unknown = [k for k in d if k not in fields]
    if unknown:
        raise ConfigError(f"a {kind} spec has no field {unknown[0]!r}{closest(str(unknown[0]), fields)}; "
                          f"its fields: {', '.join(fields)}")
    when = _freeze_when(d.pop("when", None))
    if "values" in d:
        d["values"] = _as_values(d["values"], kind)
    return classes[kind](when=when, **d)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One coordinate of the unit cube: a config key and the spec that maps it.

    Branches of one key share the coordinate: a point sits at the same relative
    position of each branch's range, which keeps the cube's dimension (and so
    the quasi-random design's quality) independent of the number of branches.
    """

    key: str
    spec: Spec | Branches

    def resolve(self, context: Mapping[str, Any]) -> Spec | None:
        """The spec in force given the other keys' values, or None if inactive."""
        specs = [b for _, b in self.spec.branches] if isinstance(self.spec, Branches) else [
            self.spec]
        for spec in specs:
            if spec.active(context):
                return spec
        return None


def dimensions(space: Mapping[str, Spec | Branches]) -> list[Dimension]:
    """The search space as unit-cube dimensions, each after those its conditions name."""
    return [Dimension(key, space[key]) for key in _dependency_order(space)]


def _conditions(spec: Spec | Branches) -> set[str]:
    if isinstance(spec, Branches):
        return {spec.key} | {k for _, b in spec.branches for k, _ in b.when}
    return {k for k, _ in spec.when}


def _dependency_order(space: Mapping[str, Spec | Branches]) -> list[str]:
    """Keys ordered so that a key comes after every searched key its conditions name."""
    depth: dict[str, int] = {}

    def visit(key: str, path: tuple[str, ...]) -> int:
        if key in path:
            raise ConfigError(f"conditions form a cycle: {' -> '.join((*path, key))}")
        if key not in depth:
            refs = [k for k in _conditions(space[key]) if k in space]
            depth[key] = 1 + max((visit(k, (*path, key)) for k in refs), default=-1)
        return depth[key]

    for key in space:
        visit(key, ())
    return sorted(space, key=lambda k: depth[k])


def assign(dims: Sequence[Dimension], point: Sequence[float], context: Mapping[str, Any]
           ) -> dict[str, Any]:
    """Maps a unit-cube point to {config key: value} for the dimensions active in `context`.

    `context` holds the values conditions may refer to (the trial's scientific
    values); nuisance values chosen here are added to it in order, so a
    condition may also refer to an earlier nuisance choice.
    """
    known = dict(context)
    values: dict[str, Any] = {}
    for dim, u in zip(dims, point, strict=True):
        spec = dim.resolve(known)
        if spec is not None:
            values[dim.key] = spec.from_unit(u)
            known[dim.key] = values[dim.key]
    return values
