"""Workloads registered by name. Unknown names are a ConfigError listing the known ones."""

from __future__ import annotations

from collections.abc import Callable

from playbook.errors import ConfigError, closest

_REGISTRY: dict[str, Callable[[], object]] = {}


def register(name: str):
    """Class decorator: registers a workload class under `name`."""
    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"workload '{name}' is already registered")
        _REGISTRY[name] = cls
        return cls
    return wrap


def get(name: str):
    """An instance of the workload registered as `name`."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown workload '{name}'{closest(name, _REGISTRY)}; "
                          f"known workloads: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def names() -> list[str]:
    return sorted(_REGISTRY)
