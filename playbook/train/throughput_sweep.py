"""The throughput sweep behind `playbook batch-sizes`: which batch sizes train faster?

Playbook ("Choosing the batch size"): the batch size governs training speed and
is not tuned for validation performance; try increasing powers of two until
the program runs out of memory, and expect the training throughput (examples
per second) to roughly double with the batch size until the accelerators
saturate. A throughput that stops growing earlier points to a bottleneck, most
often the input pipeline.

`sweep` doubles the batch size of a baseline config and times each one with
the training loop's own compiled program (`loop.setup`, `loop.programs`,
`loop.train_batches`), so what is measured is what `playbook train` runs. Two
rates per batch size: `examples_per_second` feeds fresh batches as the loop
does (host batching and transfer overlapped with the device, at most two
dispatches in flight: `playbook.train.timing`), and `compute_examples_per_second`
replays one batch already on the devices. When the first stops growing while the second still
grows, the input pipeline is the bottleneck; when both stop, the device is
saturated. The sweep stops at an XLA RESOURCE_EXHAUSTED error (out of memory),
at a batch larger than the training split, at `max_batch_size`, or after
`patience` doublings without a gain of `min_gain`. Each rate is the fastest of
`REPEATS` rounds, so other processes on the machine disturb it less. Nothing
is written to disk.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import jax
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook.errors import ConfigError
from playbook.train import loop, sharding, timing

MIN_GAIN = 0.1        # a doubling that adds less than 10% examples/s does not help
NEAR_DOUBLING = 1.5   # Playbook: throughput should "roughly double" before saturation
PATIENCE = 2          # doublings without gain before the sweep stops
MIN_SECONDS = 0.5     # per timed round, after compilation
MIN_DISPATCHES = 3
REPEATS = 3           # rounds per rate; the fastest counts

OK, OUT_OF_MEMORY, TOO_LARGE = "ok", "out_of_memory", "too_large"


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The training throughput at one batch size."""

    batch_size: int
    status: str                                   # ok | out_of_memory | too_large
    examples_per_second: float = math.nan         # fresh batches, as the loop feeds them
    compute_examples_per_second: float = math.nan  # one batch replayed on the devices
    steps: int = 0                                # steps timed per rate
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A throughput sweep: every batch size tried, the largest useful one, and flags."""

    measurements: tuple[Measurement, ...]
    largest_useful: int | None
    stop_reason: str
    flags: tuple[str, ...] = ()

    def text(self) -> str:
        """The table and verdict `playbook batch-sizes` prints."""
        lines = [f"{'batch_size':>10} {'examples/s':>12} {'x prev':>7} {'compute-only':>13}  note"]
        previous = None
        for m in self.measurements:
            if m.status != OK:
                lines.append(f"{m.batch_size:>10} {'-':>12} {'-':>7} {'-':>13}  {m.status}"
                             + (f": {m.error}" if m.error else ""))
                continue
            growth = (f"{m.examples_per_second / previous.examples_per_second:>6.2f}x"
                      if previous is not None else f"{'':>7}")
            note = "largest useful" if m.batch_size == self.largest_useful else ""
            lines.append(f"{m.batch_size:>10} {m.examples_per_second:>12,.0f} {growth} "
                         f"{m.compute_examples_per_second:>13,.0f}  {note}")
            previous = m
        lines.append(f"stopped: {self.stop_reason}")
        if self.largest_useful is not None:
            lines.append(f"largest useful batch size: {self.largest_useful} (the largest whose "
                         f"doubling still raised examples/s by {MIN_GAIN:.0%} or more)")
        lines += [f"flag: {f}" for f in self.flags]
        return "\n".join(lines)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is XLA's RESOURCE_EXHAUSTED (device or host memory ran out)."""
    if isinstance(error, MemoryError):
        return True
    return isinstance(error, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" in str(error)


def measure(config: ConfigDict, batch_size: int, min_seconds: float = MIN_SECONDS,
            repeats: int = REPEATS) -> Measurement:
    """Times the training program of `config` at `batch_size` (see the module docstring).

    Each rate is timed `repeats` times, alternating between the two, and the
    fastest round counts (as `timeit` does): other processes on the machine
    only ever slow a round down. A batch larger than the training split is
    `too_large` and an out-of-memory error is `out_of_memory`; any other error
    propagates.
    """
    config = config_lib.with_values(config, {"batch_size": batch_size, "eval_batch_size": 0})
    try:
        trial = loop.setup(config)
    except ConfigError as e:
        if "larger than the" in str(e):
            return Measurement(batch_size, TOO_LARGE, error=str(e))
        raise
    try:
        progs = loop.programs(trial)
        state, hp, rng = loop.start(trial, progs)
        n = trial.steps_per_dispatch
        batch = loop.train_batches(trial, 0, n)
        state, stats = progs.train(state, hp, rng, *batch)  # compiles
        jax.block_until_ready(stats)
        fed, replayed, dispatches, offset = math.inf, math.inf, None, 1
        for _ in range(max(1, repeats)):
            run = timing.time_calls(
                lambda state, i, start=offset: progs.train(
                    state, hp, rng, *loop.train_batches(trial, (start + i) * n, n)),
                state, seconds=min_seconds, calls=dispatches, min_calls=MIN_DISPATCHES,
                warmup=0)
            dispatches, offset = run.calls, offset + run.calls
            fed = min(fed, run.seconds)
            run = timing.time_calls(lambda state, i: progs.train(state, hp, rng, *batch),
                                    run.state, calls=dispatches, warmup=0)
            state, replayed = run.state, min(replayed, run.seconds)
    except Exception as e:  # noqa: BLE001 - only out-of-memory is a result; others re-raise.
        if is_out_of_memory(e):
            return Measurement(batch_size, OUT_OF_MEMORY, error=str(e).splitlines()[0][:200])
        raise
    steps = dispatches * n
    return Measurement(batch_size, OK, examples_per_second=steps * batch_size / fed,
                       compute_examples_per_second=steps * batch_size / replayed, steps=steps)


def sweep(config: ConfigDict, start: int = 8, max_batch_size: int | None = None,
          min_gain: float = MIN_GAIN, patience: int = PATIENCE,
          min_seconds: float = MIN_SECONDS,
          measure_fn: Callable[[ConfigDict, int, float], Measurement] = measure) -> Sweep:
    """Doubles the batch size from `start` and measures each (see the module docstring)."""
    if start <= 0 or (max_batch_size is not None and max_batch_size < start):
        raise ConfigError(f"the sweep needs 0 < start <= max_batch_size; got start={start}, "
                          f"max_batch_size={max_batch_size} (e.g. --start 8 --max_batch_size "
                          f"4096)")
    if min_gain <= 0 or patience < 1:
        raise ConfigError(f"min_gain ({min_gain}) must be positive and patience ({patience}) "
                          f"at least 1 (e.g. --min_gain 0.1 --patience 2)")
    if not min_seconds > 0:
        raise ConfigError(f"seconds per timed round must be positive, got {min_seconds} "
                          f"(e.g. --seconds 0.5)")
    sharding.check_batch_size(start, sharding.make_mesh().size)
    measurements: list[Measurement] = []
    batch, stale, reason = start, 0, ""
    while True:
        m = measure_fn(config, batch, min_seconds)
        measurements.append(m)
        if m.status == OUT_OF_MEMORY:
            reason = f"out of memory at batch size {batch}"
            break
        if m.status == TOO_LARGE:
            reason = f"batch size {batch} is larger than the training split"
            break
        best = max((x.examples_per_second for x in measurements[:-1] if x.status == OK),
                   default=0.0)
        stale = stale + 1 if m.examples_per_second < (1 + min_gain) * best else 0
        if stale >= patience:
            reason = (f"throughput stopped growing: {patience} doubling(s) without "
                      f"{min_gain:.0%} more examples/s")
            break
        if max_batch_size is not None and 2 * batch > max_batch_size:
            reason = f"reached max_batch_size {max_batch_size}"
            break
        batch *= 2
    useful = largest_useful(measurements, min_gain)
    return Sweep(tuple(measurements), useful, reason, tuple(flags(measurements, min_gain)))


def largest_useful(measurements: Sequence[Measurement], min_gain: float = MIN_GAIN
                   ) -> int | None:
    """The largest measured batch size that raised examples/s by at least `min_gain`
    over every smaller one (the first measured counts as useful)."""
    useful, best = None, 0.0
    for m in measurements:
        if m.status != OK:
            continue
        if useful is None or m.examples_per_second >= (1 + min_gain) * best:
            useful = m.batch_size
        best = max(best, m.examples_per_second)
    return useful


def flags(measurements: Sequence[Measurement], min_gain: float = MIN_GAIN) -> list[str]:
    """The playbook's warnings about how throughput grew with the batch size.

    - input-bound: at the first doubling where examples/s stop growing, the
      program alone (one batch replayed) still grows: the input pipeline, not
      the device, is the limit;
    - not doubling: the first doubling, where the device is least likely to be
      saturated, raised examples/s by less than `NEAR_DOUBLING` times.
    """
    ok = [m for m in measurements if m.status == OK]
    pairs = list(zip(ok, ok[1:]))
    out = []
    for small, large in pairs:
        fed = large.examples_per_second / small.examples_per_second
        if fed >= 1 + min_gain:
            continue
        compute = large.compute_examples_per_second / small.compute_examples_per_second
        if compute >= 1 + min_gain:
            out.append(
                f"input-bound: from batch size {small.batch_size} to {large.batch_size} "
                f"examples/s grew {fed:.2f}x while the program alone grew {compute:.2f}x; the "
                f"input pipeline (batching, host-to-device transfer) limits training: fix it "
                f"before choosing a batch size")
        break
    if pairs:
        a, b = pairs[0]
        growth = b.examples_per_second / a.examples_per_second
        if growth < NEAR_DOUBLING:
            out.append(
                f"not doubling: examples/s grew only {growth:.2f}x from batch size "
                f"{a.batch_size} to {b.batch_size}; before the device saturates it should "
                f"roughly double: look for a bottleneck (input pipeline, host work per step, "
                f"synchronisation between devices)")
    return out
