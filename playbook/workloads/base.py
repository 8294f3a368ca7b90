"""The workload contract: a dataset with train / validation / test splits, a
model, a per-example training loss and per-example evaluation metrics, and
which way each metric improves.

A workload is not a training loop: `playbook.train` drives any workload. The
validation split is carved from training data; the test split is never used
for selection (Playbook: evaluate on a held-out validation set).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from ml_collections import ConfigDict

from playbook.goal import MAXIMIZE, MINIMIZE  # noqa: F401  (workloads name their goals here)


@dataclasses.dataclass(frozen=True)
class Split:
    """Examples of one split, in memory: `inputs[i]` has label `labels[i]`."""

    inputs: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    train: Split
    valid: Split
    test: Split
    num_classes: int


class Workload(Protocol):
    """What `playbook.train` needs of a workload."""

    name: str
    # Every metric `eval_metrics` returns, with the direction in which it improves.
    metric_goals: Mapping[str, str]
    # The validation metric a trial selects its best checkpoint by, by default.
    default_metric: str

    def load(self, config: ConfigDict) -> Dataset: ...

    def model(self, config: ConfigDict, dataset: Dataset) -> nn.Module: ...

    def train_loss(self, logits: jax.Array, labels: jax.Array) -> jax.Array:
        """Per-example training loss, shape [batch]."""
        ...

    def eval_metrics(self, logits: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
        """Per-example evaluation metrics, each of shape [batch]; averaged with weights."""
        ...

    # Optional: `chance_levels(dataset) -> {metric: value}`, each metric's value for the best
    # constant prediction (e.g. the targets' variance for a squared error). Without it, the
    # loss, error rate and accuracy of integer class labels follow from the training
    # labels' class frequencies (playbook.train.collapse); other metrics have none.


class ClassificationWorkload:
    """Softmax cross-entropy classification with loss, error rate and accuracy."""

    name = "classification"
    metric_goals: Mapping[str, str] = {
        "loss": MINIMIZE, "error_rate": MINIMIZE, "accuracy": MAXIMIZE}
    default_metric = "error_rate"

    def load(self, config: ConfigDict) -> Dataset:
        raise NotImplementedError

    def model(self, config: ConfigDict, dataset: Dataset) -> nn.Module:
        from playbook import models
        return models.build(config.model, num_classes=dataset.num_classes)

    def train_loss(self, logits: jax.Array, labels: jax.Array) -> jax.Array:
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels)

    def eval_metrics(self, logits: jax.Array, labels: jax.Array) -> dict[str, Any]:
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        return {"loss": self.train_loss(logits, labels),
                "error_rate": 1.0 - correct,
                "accuracy": correct}


def split_off_validation(inputs: np.ndarray, labels: np.ndarray, num_valid: int, seed: int
                         ) -> tuple[Split, Split]:
    """Carves a validation split of `num_valid` examples from training data."""
    if not 0 < num_valid < len(labels):
        raise ValueError(f"num_valid={num_valid} must be in (0, {len(labels)})")
    order = np.random.default_rng(seed).permutation(len(labels))
    valid, train = order[:num_valid], order[num_valid:]
    return Split(inputs[train], labels[train]), Split(inputs[valid], labels[valid])
