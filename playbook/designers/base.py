"""The designer protocol and registry: how a study chooses points in the unit cube.

A designer proposes points in [0, 1]^d; the search space maps them to values
(`playbook.search`). Designers know nothing of configs, trials on disk, or
training: the study runner (`playbook.study.generate`) builds one by name with
`create` and uses only what `Designer` declares. A designer class joins the
registry with the `@register` decorator; `playbook.designers` imports the
built-in ones.

How the study uses a designer, by its `adaptive` flag:

- not adaptive: the designer's sequence is the design. When a study is created
  or extended, it writes the trials of points `drawn .. budget - 1` from
  `create(name, dim, seed, goal=..., drawn=drawn).suggest(budget - drawn)`,
  with no observations. The sequence must depend only on `dim` and `seed`, so a
  resumed study that lost a trial draws the same point again.
- adaptive: trials are proposed as results arrive. For point `i` and the `s`-th
  scientific value, the study builds `create(name, dim, seed * 1000 + s,
  goal=..., drawn=i)` and asks `suggest(1, observations)`, the observations
  being every finished trial of that scientific value (earlier rounds' included).

Either way the runner restores a designer only through the constructor's
`drawn` (how many points of this seed came before, counted from the trials on
disk); `state`/`from_state` round-trip a designer outside a study.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from playbook.errors import ConfigError, closest


class Designer(Protocol):
    name: ClassVar[str]        # what a study config's `designer` names
    adaptive: ClassVar[bool]   # whether `suggest` uses observations (see the module doc)

    def __init__(self, dim: int, seed: int, *, drawn: int = 0, goal: str = "minimize"
                 ) -> None:
        """A designer of points in [0, 1]^`dim`, seeded by `seed`, that has already
        proposed `drawn` points; `goal` ('minimize'/'maximize') is the direction of
        the objectives it observes."""

    def suggest(self, n: int, observations: Sequence[Any] = ()) -> np.ndarray:
        """The next `n` points, an array [n, dim] in the unit cube; `drawn` grows by `n`.

        `observations` are (point, objective-or-None) pairs of finished trials, None
        marking an infeasible (diverged) trial; non-adaptive designers ignore them.
        """
        ...

    def state(self) -> dict[str, Any]:
        """A JSON-ready dict, with the designer's `name`, from which `from_state`
        rebuilds it."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Designer:
        ...


# name -> (class, the keyword arguments `create` adds to the constructor's)
REGISTRY: dict[str, tuple[type, dict[str, Any]]] = {}
_REQUIRED = ("name", "adaptive", "suggest", "state", "from_state")


def register(cls: type | None = None, /, **options: Any) -> Any:
    """Class decorator that makes a `Designer` available to studies by its `name`:
    `@register`, or `@register(**options)` to build it in a study with `options` as
    extra constructor arguments (defaults for study use that differ from the class's)."""
    def add(cls: type) -> type:
        missing = [a for a in _REQUIRED if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"designer class {cls.__qualname__} lacks {', '.join(missing)}; "
                            f"see playbook.designers.base.Designer")
        known = REGISTRY.get(cls.name)
        if known is not None and known[0] is not cls:
            raise TypeError(f"designer name '{cls.name}' is taken by {known[0].__qualname__}; "
                            f"give {cls.__qualname__} another name")
        REGISTRY[cls.name] = (cls, dict(options))
        return cls
    return add if cls is None else add(cls)


def lookup(name: str) -> type:
    """The designer class registered as `name`; a ConfigError naming the valid ones."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown designer '{name}'{closest(name, list(REGISTRY))}; "
                          f"valid designers: {', '.join(REGISTRY)}")
    return REGISTRY[name][0]


def create(name: str, dim: int, seed: int, *, goal: str = "minimize", drawn: int = 0
           ) -> Designer:
    """The designer `name` for `dim` dimensions and `seed`, `drawn` points into its
    sequence, observing objectives to `goal` ('minimize'/'maximize')."""
    cls = lookup(name)
    return cls(dim, seed, drawn=drawn, goal=goal, **REGISTRY[name][1])


def from_state(state: dict[str, Any]) -> Designer:
    """The designer that `state` (a `Designer.state()`) describes."""
    name = state.get("name") if isinstance(state, dict) else None
    if name not in REGISTRY:
        raise ConfigError(f"unknown designer state {state!r}; valid designers: "
                          f"{', '.join(REGISTRY)}")
    return REGISTRY[name][0].from_state(state)
