"""When a trial writes its checkpoints: the latest on a time or step policy, the best
kept on the host until it must be on disk.

An orbax save costs a fixed ~50-80 ms of host work on a small model (threads that
share the cores with training), so a save at every evaluation of a short trial
costs more than its training (benchmarks/README.md, study_profile.py). Instead:

- The **latest** checkpoint is written at the first evaluation at least
  `checkpoint.save_latest_every_seconds` (default 60) after the previous save (or
  the start of the run), or at least `checkpoint.save_latest_every_steps` steps
  after it (default 0: no step condition), and always at the last step. Both 0:
  at every evaluation. A killed trial loses at most that much training plus one
  evaluation interval (docs/RELIABILITY.md).
- A **new best** evaluation is copied to host memory (`jax.device_get`) and written
  just before the next latest save (so steps reach orbax in increasing order, and
  every best at or before the latest step is on disk), when the run ends (done
  or diverged), or when it is interrupted (Ctrl-C, SIGTERM). A killed run loses
  the pending best with the rest of its unsaved work; its resumption trains
  those steps again and finds that best again (training is deterministic).

Every evaluation is saved as before with more than one JAX process (a host copy
of a sharded state is not addressable from one process) and with
`checkpoint.keep_best` above 1 (the best N are not only the newest best).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from typing import Any

import jax

from playbook.errors import ConfigError
from playbook.interrupts import Terminated
from playbook.train.checkpoints import Checkpoints

DEFAULT_EVERY_SECONDS = 60.0
DEFAULT_EVERY_STEPS = 0


@dataclasses.dataclass(frozen=True)
class Policy:
    every_seconds: float = DEFAULT_EVERY_SECONDS
    every_steps: int = DEFAULT_EVERY_STEPS

    @classmethod
    def from_config(cls, checkpoint: Any) -> Policy:
        """From a config's `checkpoint` block; ConfigError for a negative value."""
        get = checkpoint.get if checkpoint is not None else (lambda k, d: d)
        policy = cls(float(get("save_latest_every_seconds", DEFAULT_EVERY_SECONDS)),
                     int(get("save_latest_every_steps", DEFAULT_EVERY_STEPS)))
        for key, value in (("save_latest_every_seconds", policy.every_seconds),
                           ("save_latest_every_steps", policy.every_steps)):
            if value < 0:
                raise ConfigError(f"checkpoint.{key}={value} must be >= 0 "
                                  "(0: no condition; both 0: a save at every evaluation)")
        return policy


@dataclasses.dataclass
class _Pending:
    step: int
    host: Any  # the state as numpy arrays
    shardings: Any
    metrics: dict[str, float]


class CheckpointWriter:
    """Decides, at each evaluation, what of `Checkpoints` to write now and what later."""

    def __init__(self, ckpts: Checkpoints, policy: Policy, last_step: int,
                 clock=time.perf_counter):
        self.ckpts, self.policy, self.last_step, self._clock = ckpts, policy, last_step, clock
        self.saved_step, self._saved_at = 0, clock()
        self._pending: _Pending | None = None
        # keep_best > 1 keeps every evaluation that ranks, not only the newest best.
        self.every_evaluation = (policy.every_seconds == 0 and policy.every_steps == 0
                                 or ckpts.keep_best > 1 or jax.process_count() > 1)

    def resumed(self, step: int) -> None:
        """The run continues from the checkpoint at `step`."""
        self.saved_step, self._saved_at = step, self._clock()

    def evaluated(self, step: int, state: Any, metrics: dict[str, float], best: bool) -> None:
        """An evaluation at `step` with `metrics`; `best`: at least as good as every earlier."""
        if self.due(step):
            if best:
                self._pending = None  # this save is the best one
            self.flush()
            self.ckpts.save(step, state, metrics)
            self.saved_step, self._saved_at = step, self._clock()
        elif best and self.ckpts.keep_best > 0:
            self._pending = _Pending(step, jax.device_get(state),
                                     jax.tree.map(lambda a: a.sharding, state), dict(metrics))

    def due(self, step: int) -> bool:
        """Whether the latest checkpoint is written at the evaluation at `step`."""
        policy, since = self.policy, step - self.saved_step
        return (self.every_evaluation or step >= self.last_step
                or 0 < policy.every_steps <= since
                or 0 < policy.every_seconds <= self._clock() - self._saved_at)

    def flush(self) -> None:
        """Writes the pending best (if any) now."""
        pending, self._pending = self._pending, None
        if pending is not None and pending.step > self.saved_step:
            self.ckpts.save(pending.step, jax.device_put(pending.host, pending.shardings),
                            pending.metrics)
            self.saved_step, self._saved_at = pending.step, self._clock()


@contextlib.contextmanager
def sigterm_interrupts():
    """Within: SIGTERM raises `Terminated` in the main thread (so the run writes its
    pending best on the way out); once it has left this block, the process ends by
    SIGTERM as it would have. Nothing changes where a handler is already installed
    (the `playbook` command's, playbook.interrupts: it raises the same `Terminated`)
    or off the main thread."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
