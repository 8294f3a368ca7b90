"""What the benchmarks share: timing the training loop's own compiled program."""

from __future__ import annotations

import time

import jax

from playbook.train import loop


def program_steps_per_second(trial: loop.Trial, steps: int) -> float:
    """Steps/s of `trial`'s compiled train program (`loop.programs`) on fresh batches,
    dispatched as the loop dispatches it (at most two in flight), after one
    compiling dispatch."""
    progs = loop.programs(trial)
    state = loop.init_state(trial, progs)
    hp = loop.sharding.put_replicated(trial.optimizer.hparams, trial.mesh)
    rng = loop.sharding.put_replicated(jax.random.PRNGKey(0), trial.mesh)
    n = trial.steps_per_dispatch
    state, stats = progs.train(state, hp, rng, *loop.train_batches(trial, 0, n))  # compiles
    jax.block_until_ready(stats)
    previous, start = None, time.perf_counter()
    for step in range(n, n + steps, n):
        state, stats = progs.train(state, hp, rng, *loop.train_batches(trial, step, n))
        if previous is not None:
            jax.block_until_ready(previous)
        previous = stats
    jax.block_until_ready(state)
    return len(range(n, n + steps, n)) * n / (time.perf_counter() - start)
