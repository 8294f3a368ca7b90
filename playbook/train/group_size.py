"""How many trials of one program structure to train in one vmapped program:
`trials_per_program: auto` (`auto_group_size`) and the measurements behind it.

On an accelerator, as many as fit in part of its memory; on CPU, a group only
when timing says it pays (`group_rates`, `cpu_utilisation`): one trial of a
model that already keeps the cores busy gains nothing from company. Which trials
may share a program is `playbook.train.batched.group_key`; training them is
`batched.train_group`. Timings use `playbook.train.timing`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import jax
import numpy as np
from ml_collections import ConfigDict

from playbook.errors import ConfigError
from playbook.train import batched, loop, programs, sharding, timing

log = logging.getLogger(__name__)

# `trials_per_program: auto` (see auto_group_size). On 2 CPU cores four MNIST-1D MLPs
# in one program gain about 1.15x per trial (which a study's per-trial costs eat
# up), four tiny synthetic MLPs about 1.85x (benchmarks/README.md): so on CPU the
# gain is timed, and taken only when clear.
AUTO_CPU_SIZES = (1, 4)
AUTO_SECONDS = 0.1
AUTO_MIN_GAIN = 1.25
AUTO_CPU_BUSY = 0.25  # fraction of a matrix product's FLOP/s: compute-bound above
AUTO_MIN_TRAIN_SECONDS = 10.0
AUTO_ACCELERATOR_MAX = 64
AUTO_MEMORY_FRACTION = 0.5
_AUTO: dict[tuple, int] = {}


def parse_trials_per_program(value: str | int) -> int | str:
    """A positive int or 'auto'; ConfigError otherwise."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise ConfigError(f"trials_per_program={value!r} must be a positive integer or 'auto' "
                          f"(1 trains trials one by one)")
    return k


def auto_group_size(config: ConfigDict) -> int:
    """How many trials of `config`'s structure to train per program, once per structure
    and process.

    On an accelerator, as many as fit in `AUTO_MEMORY_FRACTION` of the first
    device's memory by XLA's memory analysis of one trial's compiled step (at most
    `AUTO_ACCELERATOR_MAX`). On CPU, 1 when one trial already keeps the cores busy
    (`cpu_utilisation` at least `AUTO_CPU_BUSY`: batching cannot add FLOPs) or
    trains in under `AUTO_MIN_TRAIN_SECONDS` (compiling a group's programs would
    cost more than batching could save); otherwise the size in `AUTO_CPU_SIZES`
    with the most steps/s per trial, timed for `AUTO_SECONDS` each (`group_rates`;
    the group's program is then already compiled), if it beats one trial by
    `AUTO_MIN_GAIN`; else 1.
    """
    trial = loop.setup(config)
    key = loop.program_key(trial)
    if key not in _AUTO:
        if jax.default_backend() == "cpu":
            steps = loop.train_batches(trial, 0, trial.steps_per_dispatch)
            rate = _single_rate(trial, *steps, AUTO_SECONDS)
            busy, seconds = cpu_utilisation(trial, rate), trial.max_train_steps / rate
            if busy >= AUTO_CPU_BUSY or seconds < AUTO_MIN_TRAIN_SECONDS:
                log.info("trials per program: 1 (one trial uses %.0f%% of the CPU's FLOP/s "
                         "and trains in %.1f s)", 100 * busy, seconds)
                _AUTO[key] = 1
                return 1
            rates = group_rates(trial, AUTO_CPU_SIZES, AUTO_SECONDS)
            best = max(rates, key=rates.get)
            _AUTO[key] = best if rates[best] >= AUTO_MIN_GAIN * rates[1] else 1
            log.info("trials per program: %d (per-trial steps/s %s)", _AUTO[key],
                     {k: round(v) for k, v in rates.items()})
        else:
            _AUTO[key] = _fits_in_memory(trial)
    return _AUTO[key]


def cpu_utilisation(trial: loop.TrialSetup, steps_per_second: float | None = None) -> float:
    """FLOP/s of one trial's training (XLA's count of one step times the steps/s of
    the loop's program, timed unless given) over the FLOP/s of a large float32
    matrix product on the same devices (`timing.matmul_flops`); NaN where XLA
    gives no count."""
    progs, state, hp, rng = _one_trial(trial)
    one_step = loop.train_batches(trial, 0, 1)  # no scan: XLA counts a loop body once
    cost = progs.train.lower(state, hp, rng, *one_step).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
    flops = float((cost or {}).get("flops", math.nan))
    if steps_per_second is None:
        steps = loop.train_batches(trial, 0, trial.steps_per_dispatch)
        steps_per_second = _single_rate(trial, *steps, AUTO_SECONDS)
    return flops * steps_per_second / timing.matmul_flops()


def group_rates(trial: loop.TrialSetup, sizes: Sequence[int], seconds: float = 0.5
                ) -> dict[int, float]:
    """Per-trial training steps/s of `size` copies of `trial` in one vmapped program,
    for each size; size 1 is the loop's own program (`loop.programs`). Each is timed
    after a compiling dispatch, for at least two dispatches and `seconds`."""
    n = trial.steps_per_dispatch
    inputs, labels = loop.train_batches(trial, 0, n)
    rates = {}
    for size in sizes:
        if size == 1:
            rates[1] = _single_rate(trial, inputs, labels, seconds)
            continue
        progs = batched.group_programs(trial, size, shared_data=True)
        hp = sharding.put_replicated(_copies(trial.optimizer.hparams, size), trial.mesh)
        keys = sharding.put_replicated(_copies(programs.keys(trial)[1], size),
                                       trial.mesh)
        active = sharding.put_replicated(np.ones(size, bool), trial.mesh)
        rates[size] = size * n * timing.time_calls(
            lambda state, i, progs=progs, hp=hp, keys=keys, active=active: progs.train(
                state, hp, keys, inputs, labels, active),
            progs.init(keys, hp), seconds=seconds).calls_per_second
    return rates


def _copies(tree, size: int):
    """`size` copies of `tree`, stacked leaf by leaf on a new leading axis."""
    return jax.tree.map(lambda x: np.stack([np.asarray(x)] * size), tree)


def _single_rate(trial: loop.TrialSetup, inputs, labels, seconds: float) -> float:
    progs, state, hp, rng = _one_trial(trial)
    return trial.steps_per_dispatch * timing.time_calls(
        lambda state, i: progs.train(state, hp, rng, inputs, labels), state,
        seconds=seconds).calls_per_second


def _one_trial(trial: loop.TrialSetup) -> tuple:
    """(programs, initial state, hyperparameters, key) of `trial` alone, on its mesh."""
    progs = loop.programs(trial)
    return (progs, *loop.start(trial, progs))


def _fits_in_memory(trial: loop.TrialSetup) -> int:
    progs, state, hp, rng = _one_trial(trial)
    inputs, labels = loop.train_batches(trial, 0, trial.steps_per_dispatch)
    try:
        analysis = progs.train.lower(state, hp, rng, inputs, labels).compile().memory_analysis()
        per_trial = (analysis.temp_size_in_bytes + analysis.argument_size_in_bytes
                     + analysis.output_size_in_bytes)
        limit = jax.devices()[0].memory_stats()["bytes_limit"]
    except (AttributeError, KeyError, TypeError, NotImplementedError):
        return 1
    return int(max(1, min(AUTO_ACCELERATOR_MAX, AUTO_MEMORY_FRACTION * limit // max(per_trial, 1))))
