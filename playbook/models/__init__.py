"""Flax Linen models, built from a config's `model` section by `build`.

Linen under plain `jax.jit` keeps the per-step Python overhead low (see
docs/ARCHITECTURE.md); models are pure `nn.Module`s with no training logic.
"""

from __future__ import annotations

from collections.abc import Callable

from flax import linen as nn
from ml_collections import ConfigDict

from playbook.errors import ConfigError, closest
from playbook.models.mlp import MLP


def _mlp(cfg: ConfigDict, num_classes: int) -> nn.Module:
    hidden = [int(cfg.width)] * int(cfg.depth)
    return MLP(hidden=hidden, num_classes=num_classes,
               activation=cfg.get("activation", "relu"), dropout=float(cfg.get("dropout", 0.0)))


_BUILDERS: dict[str, Callable[[ConfigDict, int], nn.Module]] = {"mlp": _mlp}


def register(name: str, builder: Callable[[ConfigDict, int], nn.Module]) -> None:
    _BUILDERS[name] = builder


def build(cfg: ConfigDict, num_classes: int) -> nn.Module:
    """The model named by `cfg.name`, configured by the rest of `cfg`."""
    name = cfg.get("name", None)
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model.name '{name}'{closest(str(name), _BUILDERS)}; "
                          f"known models: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](cfg, num_classes)
