"""Designers choose points in the unit cube: `halton` for exploration."""

from __future__ import annotations

from typing import Any

from playbook.designers.base import Designer
from playbook.designers.halton import Halton
from playbook.errors import ConfigError, closest

NAMES = ("halton",)


def create(name: str, dim: int, seed: int) -> Designer:
    if name == "halton":
        return Halton(dim=dim, seed=seed)
    raise ConfigError(f"unknown designer '{name}'{closest(name, NAMES)}; "
                      f"valid designers: {', '.join(NAMES)}")


def from_state(state: dict[str, Any]) -> Designer:
    if state.get("name") == "halton":
        return Halton.from_state(state)
    raise ConfigError(f"unknown designer state {state!r}; valid designers: {', '.join(NAMES)}")


__all__ = ["Designer", "Halton", "NAMES", "create", "from_state"]
