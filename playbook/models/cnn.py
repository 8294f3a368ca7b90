"""A small 1-D convolutional network (Flax Linen) for sequence-like inputs.

For signals such as MNIST-1D ([N, L]) or flattened images: inputs [N, L] get a
channel axis ([N, L, 1]); inputs [N, L, C] are used as they are. Each of
`depth` blocks is a `kernel_size` convolution with `channels` features and
'SAME' padding, the activation, then a stride-2 max pool that halves the
length (rounding up, so short inputs never shrink to zero). The flattened
features go through one dense layer of `width` units (none when `width` is 0),
optional dropout, and the logits layer.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn


class CNN1D(nn.Module):
    num_classes: int
    channels: int = 32
    depth: int = 2
    kernel_size: int = 5
    width: int = 128
    activation: str = "relu"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        act = getattr(nn, self.activation)
        if x.ndim == 2:
            x = x[..., None]
        elif x.ndim != 3:
            raise ValueError(f"CNN1D expects inputs [N, L] or [N, L, C], got shape {x.shape}")
        for _ in range(self.depth):
            x = act(nn.Conv(self.channels, (self.kernel_size,), padding="SAME")(x))
            x = nn.max_pool(x, (2,), strides=(2,), padding="SAME")
        x = jnp.reshape(x, (x.shape[0], -1))
        if self.width > 0:
            x = act(nn.Dense(self.width)(x))
        if self.dropout > 0:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)
