"""Flax Linen models, built from a config's `model` section by `build`.

Config keys, by `model.name`:
  mlp:   width (units per hidden layer), depth (hidden layers), activation
         (a `flax.linen` function name, default relu), dropout (rate, default 0).
  cnn1d: channels (conv features per layer, default 32), depth (conv blocks, each
         halving the length, default 2), kernel_size (default 5), width (dense head
         units, 0 for none, default 128), activation (default relu), dropout
         (rate before the logits, default 0).
  resnet: ImageNet layout; depth (10, 18, 34 basic; 14, 26, 50, 101, 152, 200
         bottleneck; default 50), width (first-stage channels, default 64), stem
         (imagenet: 7x7/2 + max pool, default; cifar: 3x3/1, e.g. ResNet-18 on CIFAR).
  resnet_cifar: CIFAR layout of He et al.; depth 6n + 2 (default 20), width
         (default 16).
  Both ResNets: virtual_batch_size (ghost batch norm: statistics over groups of
         this many examples; 0, the default, uses the whole batch), bn_momentum
         (running-average decay, default 0.9).
  vit:   patch_size (16), width (384), depth (12), num_heads (6), mlp_dim (1536),
         pool (gap | cls), dropout (0): defaults are ViT-S/16.
  transformer_lm: width (512), depth (6), num_heads (8), mlp_dim (2048), max_len
         (positions, 512), dropout (0); the vocabulary is the dataset's classes.
  Every model but mlp and cnn1d: dtype (float32, or bfloat16 for mixed precision:
         bfloat16 computation, float32 parameters, optimizer state and logits).

Linen under plain `jax.jit` keeps the per-step Python overhead low (see
docs/ARCHITECTURE.md); models are pure `nn.Module`s with no training logic.
Models with batch norm keep `batch_stats` variables, which the training loop
carries as model state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax.numpy as jnp
from flax import linen as nn
from ml_collections import ConfigDict

from playbook.errors import ConfigError, closest
from playbook.models.cnn import CNN1D
from playbook.models.mlp import MLP
from playbook.models.resnet import IMAGENET_DEPTHS, ResNet, cifar_stage_sizes
from playbook.models.transformer import TransformerLM
from playbook.models.vit import ViT

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _mlp(cfg: ConfigDict, num_classes: int) -> nn.Module:
    hidden = [int(cfg.width)] * int(cfg.depth)
    return MLP(hidden=hidden, num_classes=num_classes,
               activation=cfg.get("activation", "relu"), dropout=float(cfg.get("dropout", 0.0)))


def _cnn1d(cfg: ConfigDict, num_classes: int) -> nn.Module:
    return CNN1D(num_classes=num_classes, channels=int(cfg.get("channels", 32)),
                 depth=int(cfg.get("depth", 2)), kernel_size=int(cfg.get("kernel_size", 5)),
                 width=int(cfg.get("width", 128)), activation=cfg.get("activation", "relu"),
                 dropout=float(cfg.get("dropout", 0.0)))


def dtype(cfg: ConfigDict):
    """The computation dtype named by `cfg.dtype` (default float32)."""
    name = cfg.get("dtype", "float32")
    if name not in DTYPES:
        raise ConfigError(f"model.dtype '{name}' is not supported{closest(str(name), DTYPES)}; "
                          f"valid: {', '.join(DTYPES)}")
    return DTYPES[name]


def _check_keys(cfg: ConfigDict, allowed: Iterable[str]) -> None:
    allowed = {"name", "dtype", *allowed}
    for key in cfg.keys():
        if key not in allowed:
            raise ConfigError(f"model.{key} is not a key of model '{cfg.name}'"
                              f"{closest(key, allowed)}; valid: {', '.join(sorted(allowed))}")


def _positive(cfg: ConfigDict, key: str, default: int) -> int:
    value = int(cfg.get(key, default))
    if value <= 0:
        raise ConfigError(f"model.{key}={value} must be positive")
    return value


_BN_KEYS = ("depth", "width", "virtual_batch_size", "bn_momentum")


def _batch_norm_options(cfg: ConfigDict) -> dict:
    virtual = int(cfg.get("virtual_batch_size", 0))
    if virtual < 0:
        raise ConfigError(f"model.virtual_batch_size={virtual} must be >= 0 (0: the whole batch)")
    momentum = float(cfg.get("bn_momentum", 0.9))
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"model.bn_momentum={momentum} must be in [0, 1), e.g. 0.9")
    return dict(virtual_batch_size=virtual, bn_momentum=momentum, dtype=dtype(cfg))


def _resnet(cfg: ConfigDict, num_classes: int) -> nn.Module:
    _check_keys(cfg, (*_BN_KEYS, "stem"))
    depth = int(cfg.get("depth", 50))
    if depth not in IMAGENET_DEPTHS:
        raise ConfigError(f"model.depth={depth} is not a ResNet depth; valid: "
                          f"{', '.join(map(str, sorted(IMAGENET_DEPTHS)))} "
                          f"(or model.name='resnet_cifar' for depths 6n + 2)")
    stem = cfg.get("stem", "imagenet")
    if stem not in ("imagenet", "cifar"):
        raise ConfigError(f"model.stem '{stem}' is unknown; valid: imagenet, cifar")
    block, stages = IMAGENET_DEPTHS[depth]
    return ResNet(stage_sizes=stages, num_classes=num_classes, block=block,
                  width=_positive(cfg, "width", 64), stem=stem, **_batch_norm_options(cfg))


def _resnet_cifar(cfg: ConfigDict, num_classes: int) -> nn.Module:
    _check_keys(cfg, _BN_KEYS)
    depth = int(cfg.get("depth", 20))
    stages = cifar_stage_sizes(depth)
    if stages is None:
        raise ConfigError(f"model.depth={depth} is not 6n + 2; use e.g. 20, 32, 44, 56 or 110 "
                          f"(or model.name='resnet' for ImageNet depths)")
    return ResNet(stage_sizes=stages, num_classes=num_classes, block="basic",
                  width=_positive(cfg, "width", 16), stem="cifar", **_batch_norm_options(cfg))


def _vit(cfg: ConfigDict, num_classes: int) -> nn.Module:
    _check_keys(cfg, ("patch_size", "width", "depth", "num_heads", "mlp_dim", "pool", "dropout"))
    width, heads = _positive(cfg, "width", 384), _positive(cfg, "num_heads", 6)
    if width % heads:
        raise ConfigError(f"model.width={width} does not split over model.num_heads={heads}; "
                          f"use a width that is a multiple of {heads}")
    pool = cfg.get("pool", "gap")
    if pool not in ("gap", "cls"):
        raise ConfigError(f"model.pool '{pool}' is unknown; valid: gap, cls")
    return ViT(num_classes=num_classes, patch_size=_positive(cfg, "patch_size", 16), width=width,
               depth=_positive(cfg, "depth", 12), num_heads=heads,
               mlp_dim=_positive(cfg, "mlp_dim", 1536), pool=pool,
               dropout=float(cfg.get("dropout", 0.0)), dtype=dtype(cfg))


def _transformer_lm(cfg: ConfigDict, num_classes: int) -> nn.Module:
    _check_keys(cfg, ("width", "depth", "num_heads", "mlp_dim", "max_len", "dropout"))
    width, heads = _positive(cfg, "width", 512), _positive(cfg, "num_heads", 8)
    if width % heads:
        raise ConfigError(f"model.width={width} does not split over model.num_heads={heads}; "
                          f"use a width that is a multiple of {heads}")
    return TransformerLM(vocab_size=num_classes, width=width, depth=_positive(cfg, "depth", 6),
                         num_heads=heads, mlp_dim=_positive(cfg, "mlp_dim", 2048),
                         max_len=_positive(cfg, "max_len", 512),
                         dropout=float(cfg.get("dropout", 0.0)), dtype=dtype(cfg))


_BUILDERS: dict[str, Callable[[ConfigDict, int], nn.Module]] = {
    "mlp": _mlp, "cnn1d": _cnn1d, "resnet": _resnet, "resnet_cifar": _resnet_cifar,
    "vit": _vit, "transformer_lm": _transformer_lm}


def register(name: str, builder: Callable[[ConfigDict, int], nn.Module]) -> None:
    _BUILDERS[name] = builder


def build(cfg: ConfigDict, num_classes: int) -> nn.Module:
    """The model named by `cfg.name`, configured by the rest of `cfg`."""
    name = cfg.get("name", None)
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model.name '{name}'{closest(str(name), _BUILDERS)}; "
                          f"known models: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](cfg, num_classes)
