"""Flax Linen models, built from a config's `model` section by `build`.

Config keys, by `model.name`:
  mlp:   width (units per hidden layer), depth (hidden layers), activation
         (a `flax.linen` function name, default relu), dropout (rate, default 0).
  cnn1d: channels (conv features per layer, default 32), depth (conv blocks, each
         halving the length, default 2), kernel_size (default 5), width (dense head
         units, 0 for none, default 128), activation (default relu), dropout
         (rate before the logits, default 0).

Linen under plain `jax.jit` keeps the per-step Python overhead low (see
docs/ARCHITECTURE.md); models are pure `nn.Module`s with no training logic.
"""

from __future__ import annotations

from collections.abc import Callable

from flax import linen as nn
from ml_collections import ConfigDict

from playbook.errors import ConfigError, closest
from playbook.models.cnn import CNN1D
from playbook.models.mlp import MLP


def _mlp(cfg: ConfigDict, num_classes: int) -> nn.Module:
    hidden = [int(cfg.width)] * int(cfg.depth)
    return MLP(hidden=hidden, num_classes=num_classes,
               activation=cfg.get("activation", "relu"), dropout=float(cfg.get("dropout", 0.0)))


def _cnn1d(cfg: ConfigDict, num_classes: int) -> nn.Module:
    return CNN1D(num_classes=num_classes, channels=int(cfg.get("channels", 32)),
                 depth=int(cfg.get("depth", 2)), kernel_size=int(cfg.get("kernel_size", 5)),
                 width=int(cfg.get("width", 128)), activation=cfg.get("activation", "relu"),
                 dropout=float(cfg.get("dropout", 0.0)))


_BUILDERS: dict[str, Callable[[ConfigDict, int], nn.Module]] = {"mlp": _mlp, "cnn1d": _cnn1d}


def register(name: str, builder: Callable[[ConfigDict, int], nn.Module]) -> None:
    _BUILDERS[name] = builder


def build(cfg: ConfigDict, num_classes: int) -> nn.Module:
    """The model named by `cfg.name`, configured by the rest of `cfg`."""
    name = cfg.get("name", None)
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model.name '{name}'{closest(str(name), _BUILDERS)}; "
                          f"known models: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](cfg, num_classes)
