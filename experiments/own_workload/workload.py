"""A workload playbook does not ship: regressing a noisy sine wave with an MLP.

A complete example of the workload protocol (playbook/workloads/base.py,
docs/ARCHITECTURE.md): `metric_goals`, `default_metric`, `load`, `model`,
`train_loss` and `eval_metrics`, and the optional `chance_levels`. A baseline names it as
`workload = "experiments.own_workload.workload:SineRegression"` and trains it
on playbook's own loop, with everything the loop does (data-parallel
sharding, checkpoints, trials per program). Labels need not be classes: here
they are real targets, and the model has one output.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from ml_collections import ConfigDict

from playbook.workloads.base import MINIMIZE, Dataset, Split


class MLP(nn.Module):
    width: int
    depth: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        # `train` is passed by the loop (True while training); this model has no dropout.
        for _ in range(self.depth):
            x = nn.tanh(nn.Dense(self.width)(x))
        return nn.Dense(1)(x)[:, 0]


class SineRegression:
    """y = sin(3x) + noise for x uniform in [-2, 2]; squared error, mse and mae."""

    metric_goals = {"mse": MINIMIZE, "mae": MINIMIZE}
    default_metric = "mse"

    def load(self, config: ConfigDict) -> Dataset:
        data = config.data
        rng = np.random.default_rng(data.seed)

        def split(n: int) -> Split:
            x = rng.uniform(-2.0, 2.0, size=(n, 1)).astype(np.float32)
            y = np.sin(3.0 * x[:, 0]) + data.noise * rng.normal(size=n)
            return Split(x, y.astype(np.float32))

        return Dataset(train=split(data.num_train), valid=split(data.num_valid),
                       test=split(data.num_valid), num_classes=1)

    def chance_levels(self, dataset: Dataset) -> dict[str, float]:
        """Optional: each metric's value for the best constant prediction (the training
        targets' mean for the squared error, their median for the absolute error), so that
        a trial that learned nothing is recorded as such (playbook.train.collapse)."""
        train, valid = np.asarray(dataset.train.labels), np.asarray(dataset.valid.labels)
        return {"mse": float(np.mean(np.square(valid - train.mean()))),
                "mae": float(np.mean(np.abs(valid - np.median(train))))}

    def model(self, config: ConfigDict, dataset: Dataset) -> nn.Module:
        return MLP(width=config.model.width, depth=config.model.depth)

    def train_loss(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
        return jnp.square(outputs - labels)

    def eval_metrics(self, outputs: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
        return {"mse": jnp.square(outputs - labels), "mae": jnp.abs(outputs - labels)}
