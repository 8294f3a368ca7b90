"""A multilayer perceptron (Flax Linen)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from flax import linen as nn


class MLP(nn.Module):
    hidden: Sequence[int]
    num_classes: int
    activation: str = "relu"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        act = getattr(nn, self.activation)
        x = jnp.reshape(x, (x.shape[0], -1))
        for width in self.hidden:
            x = act(nn.Dense(width)(x))
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)
