"""Designers choose points in the unit cube: `halton` for exploration, `bayesopt` for exploitation."""

from __future__ import annotations

from typing import Any

from playbook.designers.base import Designer
from playbook.designers.bayesopt import BayesOpt
from playbook.designers.halton import Halton
from playbook.errors import ConfigError, closest

NAMES = ("halton", "bayesopt")


def create(name: str, dim: int, seed: int, goal: str = "minimize") -> Designer:
    """`goal` ("minimize"/"maximize") matters only to adaptive designers."""
    if name == "halton":
        return Halton(dim=dim, seed=seed)
    if name == "bayesopt":
        return BayesOpt(dim=dim, seed=seed, goal=goal)
    raise ConfigError(f"unknown designer '{name}'{closest(name, NAMES)}; "
                      f"valid designers: {', '.join(NAMES)}")


def from_state(state: dict[str, Any]) -> Designer:
    if state.get("name") == "halton":
        return Halton.from_state(state)
    if state.get("name") == "bayesopt":
        return BayesOpt.from_state(state)
    raise ConfigError(f"unknown designer state {state!r}; valid designers: {', '.join(NAMES)}")


__all__ = ["BayesOpt", "Designer", "Halton", "NAMES", "create", "from_state"]
