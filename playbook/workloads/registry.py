"""Workloads registered by name, or named by reference to a class outside the package
(`"package.module:ClassName"`, loaded and checked by `playbook.external`). Unknown
names are a ConfigError listing the known ones."""

from __future__ import annotations

from collections.abc import Callable

from playbook import external
from playbook.errors import ConfigError, closest

_REGISTRY: dict[str, Callable[[], object]] = {}


def register(name: str):
    """Class decorator: registers a workload class under `name`, which becomes its
    `name` (errors name it, and it keys the workload's compiled programs)."""
    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"workload '{name}' is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return wrap


def get(name: str):
    """An instance of the workload registered as `name`, or of the class `name` refers to."""
    if name not in _REGISTRY and external.is_reference(name):
        return external.load_workload(name)
    if name not in _REGISTRY:
        raise ConfigError(f"unknown workload '{name}'{closest(name, _REGISTRY)}; "
                          f"known workloads: {', '.join(sorted(_REGISTRY))}, or your own class as "
                          f"'package.module:ClassName'")
    return _REGISTRY[name]()


def names() -> list[str]:
    return sorted(_REGISTRY)
