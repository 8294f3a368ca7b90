"""A trial's compiled programs, cached by structure, and its starting point.

`functions(trial)`: the pure init, train (a `lax.scan` of steps) and evaluation
functions; `programs(trial)`: the same jitted for one trial on its mesh
(`playbook.train.batched` vmaps `functions` for K trials). `start(trial)`: the
initial state, hyperparameters and random key of a trial, the one place its
keys are drawn from its seed.

Program reuse. The compiled functions are cached at module level by program
structure (workload, model config, input shape, optimizer `Structure`, batch
sizes, steps per dispatch, mesh); scalar hyperparameters enter as arrays, so
the trials of a study that differ only in them trace and compile once.
`TRACE_COUNTS` counts traces, for tests. The model must be a function of
`config.model` and the dataset's shapes (true of every registered workload).

Model state. Variables other than `params` (batch norm's `batch_stats`) are
`TrainState.model_state`, an empty dict for stateless models: training applies
the model with them mutable and carries the updated values; evaluation uses
them as they are (running averages). Under `jax.jit` they are replicated like
the parameters, so batch statistics computed over a data-parallel batch are global.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from playbook import config as config_lib
from playbook.train import sharding
from playbook.train.setup import TrialSetup
from playbook.train.state import TrainState

TRACE_COUNTS: collections.Counter[str] = collections.Counter()
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


@dataclasses.dataclass(frozen=True)
class Programs:
    init: Callable[..., TrainState]  # (rng, hp) -> state
    # (state, hp, rng, inputs, labels) -> state, stats
    train: Callable[..., tuple[TrainState, dict]]
    # (params, inputs, labels, weights, model_state) -> sums, sum of weights
    evaluate: Callable[..., tuple]


@dataclasses.dataclass(frozen=True)
class Functions:
    """The pure functions behind `Programs`, before jit: `playbook.train.batched`
    vmaps the same ones over trials.

    `evaluate(params, inputs, labels, weights, model_state=None)`: `model_state`
    is `TrainState.model_state`, needed by models with batch norm (None or {} for
    stateless models, so the four-argument call of those is unchanged)."""

    init: Callable[..., TrainState]
    train: Callable[..., tuple[TrainState, dict]]
    evaluate: Callable[..., tuple]


_PROGRAMS: dict[tuple, Programs] = {}


def program_key(trial: TrialSetup) -> tuple:
    """Equal for two trials exactly when `programs` serves both."""
    example = trial.dataset.train.inputs
    return (trial.workload.name,
            json.dumps(config_lib.to_dict(trial.config.model), sort_keys=True),
            trial.dataset.num_classes, example.shape[1:], str(example.dtype),
            trial.optimizer.structure, trial.batch_size, trial.eval_batch_size,
            trial.steps_per_dispatch, trial.mesh, sharding.param_sharding(trial.config))


def programs(trial: TrialSetup) -> Programs:
    """The jitted functions for `trial`, shared with every earlier trial of its structure."""
    key = program_key(trial)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _compile(trial)
    return _PROGRAMS[key]


def functions(trial: TrialSetup) -> Functions:
    """The un-jitted init, train (a scan of steps) and evaluation functions of `trial`."""
    model, workload, opt = trial.model, trial.workload, trial.optimizer
    example = trial.dataset.train.inputs
    shape, dtype = (1, *example.shape[1:]), example.dtype

    def init(rng, hp):
        TRACE_COUNTS["init"] += 1
        variables = model.init({"params": rng}, jnp.zeros(shape, dtype), train=False)
        params = variables["params"]
        model_state = {k: v for k, v in variables.items() if k != "params"}
        return TrainState.create(params, model_state, opt.init(params, hp))

    def train_step(state: TrainState, batch, hp, rng):
        inputs, labels = batch
        dropout = jax.random.fold_in(rng, state.step)
        model_state = state.model_state

        def loss_fn(params):
            variables = {"params": params, **model_state}
            if model_state:  # batch norm: batch statistics in, updated running averages out
                logits, updated = model.apply(variables, inputs, train=True,
                                              rngs={"dropout": dropout}, mutable=list(model_state))
            else:
                logits, updated = model.apply(variables, inputs, train=True,
                                              rngs={"dropout": dropout}), {}
            return jnp.mean(workload.train_loss(logits, labels)), updated

        (loss, updated), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grad_norm = optax.tree.norm(grads)  # global L2 norm, before any clipping
        params, opt_state, lr = opt.apply(grads, state.opt_state, state.params, hp,
                                          step=state.step)
        new = TrainState(step=state.step + 1, params=params, model_state=dict(updated),
                         opt_state=opt_state,
                         initial_loss=jnp.where(state.step == 0, loss, state.initial_loss))
        return new, {"loss": loss, "grad_norm": grad_norm, "learning_rate": lr}

    def train(state, hp, rng, inputs, labels):
        TRACE_COUNTS["train"] += 1
        if inputs.shape[0] == 1:  # no loop at all: XLA:CPU runs convolutions in loops slowly
            state, stats = train_step(state, (inputs[0], labels[0]), hp, rng)
            stats = jax.tree.map(lambda x: x[None], stats)
        else:
            state, stats = jax.lax.scan(lambda s, b: train_step(s, b, hp, rng), state,
                                        (inputs, labels))
        return state, {**stats, "initial_loss": state.initial_loss}

    def eval_sums(params, inputs, labels, weights, model_state=None):
        TRACE_COUNTS["eval"] += 1
        logits = model.apply({"params": params, **(model_state or {})}, inputs, train=False)
        metrics = workload.eval_metrics(logits, labels)
        return {k: jnp.sum(weights * v) for k, v in metrics.items()}, jnp.sum(weights)

    return Functions(init=init, train=train, evaluate=eval_sums)


def _compile(trial: TrialSetup) -> Programs:
    fns = functions(trial)
    rep = sharding.replicated(trial.mesh)
    stacked, batch = (sharding.batch_sharding(trial.mesh, a) for a in (1, 0))
    mode = sharding.param_sharding(trial.config)
    state, params, model_state = rep, rep, rep
    if mode != "replicated":  # shardings per leaf, from the state's shapes
        abstract = jax.eval_shape(fns.init, jax.random.PRNGKey(0), trial.optimizer.hparams)
        state = TrainState.from_checkpoint(
            sharding.state_shardings(abstract.checkpoint(), trial.mesh, mode))
        params, model_state = state.params, state.model_state
    # The init program runs once per trial: on XLA:CPU, optimisation level 1 compiles
    # it in a third of the time (1.4 s -> 0.55 s for the MNIST-1D MLP), same values.
    init_options = INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    return Programs(
        init=jax.jit(fns.init, out_shardings=state, compiler_options=init_options),
        train=jax.jit(fns.train, in_shardings=(state, rep, rep, stacked, stacked),
                      out_shardings=(state, rep), donate_argnums=0),
        evaluate=jax.jit(fns.evaluate, in_shardings=(params, batch, batch, batch, model_state),
                         out_shardings=rep))


# -- a trial's starting point -----------------------------------------------------------------


def keys(trial: TrialSetup) -> tuple[jax.Array, jax.Array]:
    """(initialisation key, training key) of `trial`: both from its seed, the only
    derivation of either (a group draws each member's the same way)."""
    init_rng, train_rng = jax.random.split(jax.random.PRNGKey(trial.seed))
    return init_rng, train_rng


def start(trial: TrialSetup, progs: Programs | None = None
          ) -> tuple[TrainState, Any, jax.Array]:
    """(initial state, hyperparameters, training key) of `trial`, placed on its mesh:
    what `progs.train(state, hp, rng, inputs, labels)` takes."""
    progs = programs(trial) if progs is None else progs
    init_rng, train_rng = keys(trial)
    hp = sharding.put_replicated(trial.optimizer.hparams, trial.mesh)
    state = progs.init(sharding.put_replicated(init_rng, trial.mesh), hp)
    return state, hp, sharding.put_replicated(train_rng, trial.mesh)


def init_state(trial: TrialSetup, progs: Programs) -> TrainState:
    """The initial state of `trial` (`start`'s first element)."""
    return start(trial, progs)[0]
