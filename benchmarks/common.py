"""What the benchmarks share: timing the training loop's own compiled program, and
playbook's program side by side with a plain Flax/optax step on the same trial.
Every timing goes through `playbook.train.timing.time_calls`."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from playbook.data import batching
from playbook.train import loop, timing


def program_steps_per_second(trial: loop.TrialSetup, steps: int) -> float:
    """Steps/s of `trial`'s compiled train program (`loop.programs`) on fresh batches,
    dispatched as the loop dispatches it (at most two in flight), after one
    compiling dispatch."""
    progs = loop.programs(trial)
    state, hp, rng = loop.start(trial, progs)
    n = trial.steps_per_dispatch
    run = timing.time_calls(
        lambda state, i: progs.train(state, hp, rng, *loop.train_batches(trial, i * n, n)),
        state, calls=len(range(n, n + steps, n)))
    return run.calls * n / run.seconds


def plain_step(trial: loop.TrialSetup):
    """A textbook Flax/optax train step for the trial's model and loss: (init, step)."""
    model, loss_of = trial.model, trial.workload.train_loss
    c = trial.config
    if c.optimizer in ("momentum", "nesterov"):
        tx = optax.chain(optax.add_decayed_weights(c.weight_decay),
                         optax.sgd(c.learning_rate, c.momentum, nesterov=c.optimizer == "nesterov"))
    else:
        tx = optax.adamw(c.learning_rate, c.b1, c.b2, weight_decay=c.weight_decay)

    def init(x):
        variables = model.init(jax.random.key(0), x[:1])
        params = variables.pop("params")
        return params, variables, tx.init(params)

    def step(params, state, opt_state, x, y):
        def loss_fn(p):
            if state:
                logits, new = model.apply({"params": p, **state}, x, train=True,
                                          mutable=list(state))
            else:
                logits, new = model.apply({"params": p}, x, train=True), state
            return jnp.mean(loss_of(logits, y)), new

        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    return init, jax.jit(step, donate_argnums=(0, 1, 2))


def plain_rate(trial: loop.TrialSetup, steps: int) -> tuple[float, float]:
    """(examples/s, FLOPs per step) of the plain loop: one dispatch per step, batches
    indexed with numpy and placed by `jax.device_put`, waited for only at the end."""
    split, size = trial.dataset.train, trial.batch_size

    def batch(step):
        idx = batching.train_indices(len(split), size, trial.seed, step)
        return jax.device_put(split.inputs[idx]), jax.device_put(split.labels[idx])

    init, step = plain_step(trial)
    x, y = batch(0)
    params, state, opt_state = jax.jit(init)(x)
    cost = step.lower(params, state, opt_state, x, y).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan")))

    def call(carry, i):
        *carry, loss = step(*carry, *batch(i))
        return tuple(carry), loss

    run = timing.time_calls(call, (params, state, opt_state), calls=steps, in_flight=None)
    return run.calls * size / run.seconds, flops


@dataclasses.dataclass(frozen=True)
class SideBySide:
    """Examples/s of playbook's program and of the plain step on one trial, and MFU
    against `peak` FLOP/s (both with the plain step's FLOP count per example)."""

    batch_size: int
    playbook: float
    plain: float
    flops: float  # XLA's count for one plain training step (forward and backward)
    peak: float

    @property
    def ratio(self) -> float:
        return self.playbook / self.plain

    def mfu(self, examples_per_second: float) -> float:
        return examples_per_second * self.flops / self.batch_size / self.peak


def side_by_side(config, steps: int, peak: float) -> SideBySide:
    """playbook's compiled program against `plain_step` on `config`'s trial, `steps`
    steps each (rounded down to whole dispatches of the loop's scan)."""
    trial = loop.setup(config)
    steps -= steps % trial.steps_per_dispatch
    ours = program_steps_per_second(trial, steps) * trial.batch_size
    theirs, flops = plain_rate(trial, steps)
    return SideBySide(trial.batch_size, ours, theirs, flops, peak)
