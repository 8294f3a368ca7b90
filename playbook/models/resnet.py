"""Residual networks (He et al., 2016) with batch norm, for images [N, H, W, C].

One module covers the ImageNet layout (a 7x7 stride-2 stem and a max pool, four
stages of basic or bottleneck blocks: ResNet-18/34/50/101/152) and the CIFAR
layout of He et al. section 4.2 (a 3x3 stem, three stages of basic blocks of
16, 32 and 64 channels: ResNet-20/32/44/56/110 = 6n + 2 layers). Shortcuts are
identity, or a 1x1 projection with batch norm where the shape changes (option
B; the CIFAR paper's option A pads with zeros instead). The last batch norm
of each residual branch starts at zero scale (Goyal et al., 2017), so every
block starts as the identity. Batch norm may use virtual batches
(`playbook.models.norm`).

`dtype` is the computation dtype (bfloat16 for mixed precision); parameters and
batch statistics stay float32, and the logits are returned as float32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from playbook.models.norm import batch_norm

_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class BasicBlock(nn.Module):
    features: int
    strides: int
    conv: Callable
    norm: Callable

    @nn.compact
    def __call__(self, x):
        y = nn.relu(self.norm()(self.conv(self.features, (3, 3), self.strides)(x)))
        y = self.norm(scale_init=nn.initializers.zeros)(self.conv(self.features, (3, 3))(y))
        if x.shape != y.shape:
            x = self.norm(name="norm_proj")(
                self.conv(self.features, (1, 1), self.strides, name="conv_proj")(x))
        return nn.relu(x + y)


class BottleneckBlock(nn.Module):
    features: int
    strides: int
    conv: Callable
    norm: Callable
    expansion: int = 4

    @nn.compact
    def __call__(self, x):
        y = nn.relu(self.norm()(self.conv(self.features, (1, 1))(x)))
        y = nn.relu(self.norm()(self.conv(self.features, (3, 3), self.strides)(y)))
        y = self.norm(scale_init=nn.initializers.zeros)(
            self.conv(self.features * self.expansion, (1, 1))(y))
        if x.shape != y.shape:
            x = self.norm(name="norm_proj")(self.conv(
                self.features * self.expansion, (1, 1), self.strides, name="conv_proj")(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    stage_sizes: Sequence[int]
    num_classes: int
    block: str = "basic"  # basic | bottleneck
    width: int = 64  # channels of the first stage; each later stage doubles them
    stem: str = "imagenet"  # imagenet (7x7/2 + max pool) | cifar (3x3/1)
    virtual_batch_size: int = 0
    bn_momentum: float = 0.9
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if x.ndim != 4:
            raise ValueError(f"ResNet expects images [N, H, W, C], got shape {x.shape}")
        conv = functools.partial(nn.Conv, use_bias=False, padding="SAME", dtype=self.dtype,
                                 kernel_init=_conv_init)
        norm = functools.partial(batch_norm, self.virtual_batch_size,
                                 use_running_average=not train, momentum=self.bn_momentum,
                                 epsilon=1e-5, dtype=self.dtype)
        x = x.astype(self.dtype)
        if self.stem == "imagenet":
            x = conv(self.width, (7, 7), 2, padding=[(3, 3), (3, 3)], name="conv_init")(x)
            x = nn.relu(norm(name="norm_init")(x))
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        else:
            x = nn.relu(norm(name="norm_init")(conv(self.width, (3, 3), name="conv_init")(x)))
        block = BasicBlock if self.block == "basic" else BottleneckBlock
        for i, size in enumerate(self.stage_sizes):
            for j in range(size):
                strides = 2 if i > 0 and j == 0 else 1
                x = block(self.width * 2 ** i, strides, conv, norm)(x)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


# depth -> (block, stage sizes) for the ImageNet layout.
IMAGENET_DEPTHS = {
    10: ("basic", (1, 1, 1, 1)), 18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
    14: ("bottleneck", (1, 1, 1, 1)), 26: ("bottleneck", (2, 2, 2, 2)),
    50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)), 200: ("bottleneck", (3, 24, 36, 3)),
}


def cifar_stage_sizes(depth: int) -> tuple[int, int, int] | None:
    """(n, n, n) for a CIFAR ResNet of depth 6n + 2, else None."""
    n, rest = divmod(depth - 2, 6)
    return (n, n, n) if depth >= 8 and rest == 0 else None
