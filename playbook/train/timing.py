"""Timing compiled programs the way the training loop dispatches them, and the peak
they are compared with.

`time_calls` is the one timing loop of the package and of benchmarks/: it calls
`step(state, i) -> (state, outputs)` repeatedly after untimed warm-up calls (the
first one compiles), with at most `in_flight` calls dispatched and unfinished at
once. The training loop keeps two in flight (playbook.train.loop: the host
prepares the next batch while the device runs the current one, and XLA:CPU's
collectives deadlock when many multi-device programs queue), so two is the
default; a textbook loop that only waits at its end is `in_flight=None`.
`matmul_flops` is the one peak measurement: the FLOP/s of a large matrix product
on the default device, which MFU and the CPU utilisation of
`playbook.train.group_size` divide by.

Not for the wall time of whole processes or of a run's phases
(benchmarks/study_profile.py): those are `time.perf_counter` around the work.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

IN_FLIGHT = 2  # as in the training loop
_PEAK: dict[tuple, float] = {}


@dataclasses.dataclass(frozen=True)
class Timing:
    """`calls` timed calls that took `seconds`, and the state after the last one (a
    step may donate its input state, so continue from this one)."""

    calls: int
    seconds: float
    state: Any

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds


def time_calls(step: Callable[[Any, int], tuple[Any, Any]], state: Any, *,
               seconds: float = 0.0, calls: int | None = None, min_calls: int = 2,
               in_flight: int | None = IN_FLIGHT, warmup: int = 1) -> Timing:
    """Times `step(state, i) -> (state, outputs)`, `i` counting every call from 0.

    `warmup` calls run first, each waited for, untimed. Then exactly `calls`
    calls when given, else calls until at least `min_calls` have run and
    `seconds` have passed. After each call, earlier calls' outputs are waited
    for until fewer than `in_flight` remain unfinished (None: none are waited
    for until the end); the time ends when every output and the state are ready.
    """
    if calls is not None and calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    if in_flight is not None and in_flight < 1:
        raise ValueError(f"in_flight must be at least 1 or None, got {in_flight}")
    for i in range(warmup):
        state, outputs = step(state, i)
        jax.block_until_ready(outputs)
    unfinished: collections.deque = collections.deque()
    start, done = time.perf_counter(), 0
    while True:
        state, outputs = step(state, warmup + done)
        unfinished.append(outputs)
        done += 1
        while in_flight is not None and len(unfinished) >= in_flight:
            jax.block_until_ready(unfinished.popleft())
        if calls is not None:
            if done >= calls:
                break
        elif done >= min_calls and time.perf_counter() - start >= seconds:
            break
    jax.block_until_ready((list(unfinished), state))
    return Timing(done, time.perf_counter() - start, state)


def matmul_flops(size: int = 1024, dtype: Any = jnp.float32, repeats: int = 5) -> float:
    """FLOP/s of a `size` x `size` matrix product in `dtype` on the default device
    (`repeats` products after a compiling one), measured once per process and
    arguments: the practical peak of the device, not its datasheet number."""
    key = (size, jnp.dtype(dtype).name, repeats, jax.default_backend())
    if key not in _PEAK:
        product = jax.jit(lambda a: a @ a)
        a = jnp.ones((size, size), dtype)
        timing = time_calls(lambda a, i: (a, product(a)), a, calls=repeats)
        _PEAK[key] = 2 * size ** 3 * timing.calls_per_second
    return _PEAK[key]
