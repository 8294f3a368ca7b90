"""A study's `trial_timeout`: when a running unit has run past it, and how its stopped
trials are recorded.

The executors stop the unit themselves (they know how: a worker process killed, a Ray
task cancelled); this module only keeps the time and writes the outcome:

- `Clock`: a unit's clock starts when one of its trials records its start in
  attempts.jsonl (claimed, about to train), and starts again at each later start (the
  next chunk of a group, the next trial of a unit). Time a unit spends before that,
  queued for a worker or for a Ray node's resources, or in a worker's start-up, is not
  the trial's. The executor notices the starts itself, with its own clock, so the
  clocks of other hosts do not matter. A group's members start together: its timeout
  is that of one trial, as one program trains them all.
- `record`: once the process is stopped (its claims released with it), each trial of
  the unit that this run started and that has no result is claimed and recorded
  `failed` with reason `timeout`: `error.txt` and `result.json` say "stopped after N s
  (trial_timeout=T)", and `steps` the last step it logged. Its metrics.jsonl and
  checkpoints stay as they are (an external trainer's curves so far, read from its
  workdir, are written to the trial's files as its finished run would have written
  them), so `--retry_failed` resumes it from its latest checkpoint. Trials of the unit
  that had not started stay pending; trials another runner holds are left to it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from playbook import config as config_lib
from playbook import external, trial_files
from playbook.errors import storage_fault
from playbook.study.store import StudyStore

POLL_S = 0.2  # how often a running unit's clock is read
RELEASE_WAIT_S = 30.0  # for a stopped process's claims to be released (Ray kills lazily)

log = logging.getLogger(__name__)


class Clock:
    """The time a unit's trials have been running, as this process sees it."""

    def __init__(self, store: StudyStore, trial_ids: tuple[str, ...]):
        self.store = store
        self.trial_ids = trial_ids
        self.started: float | None = None
        self._starts = self._count()

    def _count(self) -> int:
        return sum(self.store.attempts(t) for t in self.trial_ids)

    def elapsed(self) -> float:
        """Seconds since the unit's latest trial started (0 until one has)."""
        starts = self._count()
        if starts != self._starts:
            self._starts, self.started = starts, time.monotonic()
        return 0.0 if self.started is None else time.monotonic() - self.started


def message(elapsed: float, seconds: float) -> str:
    return (f"stopped after {elapsed:.0f} s (trial_timeout={seconds:g}): the trial ran past "
            f"the study's trial_timeout; its metrics and checkpoints so far are kept, and "
            f"`playbook study ... --retry_failed` runs it again from its latest checkpoint")


def record(study_dir: str, trial_ids: tuple[str, ...], seconds: float, elapsed: float,
           started_here: Callable[[Mapping[str, Any]], bool]) -> dict[str, str]:
    """Records the unit's stopped trials (module docstring); {trial id: status}.

    `started_here(attempt)`: whether an attempts.jsonl record is the start made by the
    stopped process (its pid, or its Ray task id)."""
    store = StudyStore(study_dir)
    return {t: _record_one(store, t, seconds, elapsed, started_here) for t in trial_ids}


def _record_one(store: StudyStore, trial_id: str, seconds: float, elapsed: float,
                started_here: Callable[[Mapping[str, Any]], bool]) -> str:
    trial_dir = store.trial_dir(trial_id)
    deadline = time.monotonic() + RELEASE_WAIT_S
    while True:
        with store.claim(trial_id) as mine:  # waits out a claim being released
            if mine:
                status = trial_files.status(trial_dir)
                if status is not None:
                    return status  # it ended before it was stopped
                attempt = store.last_attempt(trial_id)
                if attempt is None or not started_here(attempt):
                    return "pending"  # the stopped process had not started it
                _write(trial_dir, message(elapsed, seconds))
                return "failed"
        if time.monotonic() >= deadline:
            log.warning("trial %s was stopped past its trial_timeout, but its claim is still "
                        "held; left as it is", trial_id)
            return "busy"


def _write(trial_dir: str, text: str) -> None:
    stored = trial_files.read_config(trial_dir)
    steps = trial_files.last_step(trial_dir)
    result = trial_files.failed(text, stored, reason="timeout", steps=steps)
    if stored and external.trainer_of(stored):
        steps = _trainer_curves(trial_dir, stored, result)
        result = trial_files.failed(text, stored, reason="timeout", steps=steps)
    trial_files.write_error(trial_dir, text)
    trial_files.write_result(trial_dir, result)


def _trainer_curves(trial_dir: str, stored: dict, result: trial_files.TrialResult) -> int:
    """An external trainer's curves so far (what it wrote in its workdir) written to the
    trial's metrics.jsonl and TensorBoard events, as its return would have; the last
    step among them (0 where it logged none)."""
    from playbook.train import curves, external_trainer

    workdir = os.path.join(trial_dir, external_trainer.WORKDIR)
    try:
        found = curves.collect(None, workdir)
        if found.by_step:
            external_trainer.write_metrics(trial_dir, found, config_lib.from_dict(stored),
                                           result)
        return max(found.by_step, default=0)
    except Exception as e:  # noqa: BLE001 - the timeout is recorded all the same
        if storage_fault(e) is not None:
            raise
        log.warning("the curves of the stopped trial in %s could not be read: %s", trial_dir, e)
        return trial_files.last_step(workdir)
