"""Batch normalization with an optional virtual ("ghost") batch size.

Playbook ("Batch normalization implementation details"): the batch over which
batch norm computes its statistics need not be the batch the gradient is
computed on; a smaller *virtual* batch size is a hyperparameter that often
regularizes better. With `virtual_batch_size=0` the statistics are taken over
the whole global batch: under `jax.jit` the batch axis is one logical axis even
when it is split over devices, so the mean is global (GSPMD inserts the
all-reduce) and the running averages are identical on every replica. With
`virtual_batch_size=v`, the global batch of B examples is cut into B / v
consecutive groups, each normalized by its own statistics; the running
averages move towards the mean of the groups' statistics. They live in the
`batch_stats` collection, which the training loop carries and checkpoints as
`state['model_state']`.

This module only normalizes; it does not choose `v` (a config key of the
models that use it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from flax import linen as nn


class GhostBatchNorm(nn.Module):
    """BatchNorm over virtual batches of `virtual_batch_size` examples (axis 0).

    Variables are named as in `flax.linen.BatchNorm` (`scale`, `bias` params;
    `mean`, `var` batch stats), so the two are interchangeable in checkpoints.
    A batch smaller than the virtual batch (as at initialization) is one group;
    a larger one must be a multiple of it.
    """

    virtual_batch_size: int
    use_running_average: bool | None = None
    momentum: float = 0.99
    epsilon: float = 1e-5
    dtype: Any = None
    param_dtype: Any = jnp.float32
    scale_init: Callable = nn.initializers.ones
    bias_init: Callable = nn.initializers.zeros

    @nn.compact
    def __call__(self, x, use_running_average: bool | None = None):
        use_running_average = nn.merge_param(
            "use_running_average", self.use_running_average, use_running_average)
        features = x.shape[-1]
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
        scale = self.param("scale", self.scale_init, (features,), self.param_dtype)
        bias = self.param("bias", self.bias_init, (features,), self.param_dtype)
        if use_running_average:
            mean, var = ra_mean.value, ra_var.value
            y = (x.astype(jnp.float32) - mean) * jnp.reciprocal(jnp.sqrt(var + self.epsilon))
        else:
            n, v = x.shape[0], self.virtual_batch_size
            v = n if v <= 0 or n <= v else v
            if n % v:
                raise ValueError(f"a batch of {n} examples does not split into virtual batches "
                                 f"of {v}; use a batch size that is a multiple of {v}")
            groups = x.reshape(n // v, v, *x.shape[1:]).astype(jnp.float32)
            axes = tuple(range(1, groups.ndim - 1))
            mean = jnp.mean(groups, axes, keepdims=True)
            var = jnp.mean(jnp.square(groups - mean), axes, keepdims=True)
            y = ((groups - mean) * jnp.reciprocal(jnp.sqrt(var + self.epsilon))).reshape(x.shape)
            if not self.is_initializing():
                m = self.momentum
                ra_mean.value = m * ra_mean.value + (1 - m) * mean.reshape(-1, features).mean(0)
                ra_var.value = m * ra_var.value + (1 - m) * var.reshape(-1, features).mean(0)
        y = y * scale + bias
        return y.astype(self.dtype or x.dtype)


def batch_norm(virtual_batch_size: int = 0, **kwargs) -> nn.Module:
    """`flax.linen.BatchNorm` over the whole batch (0), else `GhostBatchNorm`."""
    if virtual_batch_size > 0:
        return GhostBatchNorm(virtual_batch_size=virtual_batch_size, **kwargs)
    return nn.BatchNorm(**kwargs)
