"""The train state of one trial: `TrainState`, a pytree (`flax.struct.dataclass`).

One step counter. `step` is the number of updates applied; the training step
folds it into the dropout key and the learning-rate schedule reads it
(`optimizers.apply(..., step=state.step)`). optax keeps counters of its own
inside `opt_state` (`inject_hyperparams`' and Adam's bias correction); they
advance with `step` by construction, are optax's business, and are not read
by playbook. A restored state whose counters disagree is refused
(`check_restored`).

Checkpoints hold the state as the dict `checkpoint()` returns (keys `step`,
`params`, `model_state`, `opt_state`, `initial_loss`): the layout checkpoints
had before the state was typed, so those restore unchanged
(`from_checkpoint`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
    """`step`: updates applied (int32 scalar); `params`, `model_state` (variables other
    than params, e.g. batch norm's `batch_stats`, an empty dict for stateless models);
    `opt_state`; `initial_loss`: the first step's training loss (NaN before it)."""

    step: jax.Array
    params: Any
    model_state: Any
    opt_state: optax.OptState
    initial_loss: jax.Array

    @classmethod
    def create(cls, params: Any, model_state: Any, opt_state: optax.OptState) -> TrainState:
        """The state before the first step."""
        return cls(step=jnp.zeros((), jnp.int32), params=params, model_state=model_state,
                   opt_state=opt_state, initial_loss=jnp.full((), jnp.nan, jnp.float32))

    def checkpoint(self) -> dict[str, Any]:
        """The state as a checkpoint holds it (the module docstring)."""
        return {"step": self.step, "params": self.params, "model_state": self.model_state,
                "opt_state": self.opt_state, "initial_loss": self.initial_loss}

    @classmethod
    def from_checkpoint(cls, tree: dict[str, Any]) -> TrainState:
        return cls(**tree)


def check_restored(state: TrainState, step: int) -> None:
    """RuntimeError unless the checkpoint of `step` holds the state of that step (its own
    counter and optax's)."""
    counts = {int(x) for x in jax.tree.leaves(_optax_counts(state.opt_state))}
    if int(state.step) != step or counts - {step}:
        raise RuntimeError(f"checkpoint {step} holds state of step {int(state.step)} "
                           f"(optimizer counts {sorted(counts)})")


def _optax_counts(opt_state: Any) -> list:
    """The `count` fields of optax's states inside `opt_state`."""
    found = []

    def visit(node):
        if hasattr(node, "_fields"):  # optax states are NamedTuples
            if "count" in node._fields:
                found.append(node.count)
            for child in node:
                visit(child)
        elif isinstance(node, (tuple, list)):
            for child in node:
                visit(child)
    visit(opt_state)
    return found
