"""What one trial ended with: `TrialResult`, stored as `workdir/result.json`.

A trial ends `done` (trained `max_train_steps`), `diverged` (a finished,
infeasible trial, not an error; `reason` says why: `non_finite` loss or
gradient norm, `loss_explosion`, or `collapsed` back to chance level, see
playbook.train.collapse; `steps` says how many steps it ran) or
`failed` (an exception; `error` holds the traceback). Playbook: the best
checkpoint is chosen retrospectively, so `best` (validation metrics at
`best_step`) is the trial's outcome and `final` only describes where it
ended. Non-finite metric values are written as JSON `null` and read back as
NaN. This module only describes and stores results; the loop produces them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Any

RESULT_FILE = "result.json"
STATUSES = ("done", "diverged", "failed")
FINISHED = ("done", "diverged")  # a rerun of these returns the stored result
REASONS = ("non_finite", "loss_explosion", "collapsed")  # of a diverged trial

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Throughput:
    """Steady-state training speed of the run that produced the result (evaluation,
    checkpointing and the first, compiling, log interval excluded when possible),
    and its start-up cost: seconds from the start of the run (before the data is
    loaded) to the end of its first log interval, compilation included."""

    examples_per_second: float = math.nan
    steps_per_second: float = math.nan
    first_step_seconds: float = math.nan


@dataclasses.dataclass(frozen=True)
class TrialResult:
    status: str
    best_step: int | None
    best: dict[str, float] | None  # validation metrics at best_step, e.g. 'valid/error_rate'
    final: dict[str, float] | None  # validation metrics at the last evaluation
    steps: int  # training steps completed
    max_train_steps: int
    metric: str  # selection metric, e.g. 'valid/error_rate'
    goal: str  # 'minimize' | 'maximize'
    throughput: Throughput = Throughput()
    best_checkpoint: str | None = None
    error: str | None = None  # traceback of a failed trial
    # Trials that shared one compiled program in the run that produced the result
    # (playbook.train.batched; 1: trained alone). Its throughput is per trial of that program.
    trials_per_program: int = 1
    reason: str | None = None  # why a diverged trial is infeasible (REASONS)
    # The step the run that produced the result started from: 0 from scratch, else the
    # latest checkpoint it restored after an interruption.
    resumed_from: int = 0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status '{self.status}' is not one of {', '.join(STATUSES)}")
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"reason '{self.reason}' is not one of {', '.join(REASONS)}")

    @property
    def objective(self) -> float | None:
        """The selection metric at `best_step`; None unless the trial is done."""
        if self.status != "done" or not self.best or self.metric not in self.best:
            return None
        return self.best[self.metric]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["best"], d["final"] = _finite_or_none(self.best), _finite_or_none(self.final)
        d["throughput"] = _finite_or_none(d["throughput"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["best"], d["final"] = _nan_for_none(d.get("best")), _nan_for_none(d.get("final"))
        d["throughput"] = Throughput(**(_nan_for_none(d.get("throughput")) or {}))
        for key in ("steps", "max_train_steps"):
            d[key] = int(d.get(key) or 0)
        d["trials_per_program"] = int(d.get("trials_per_program") or 1)
        d["resumed_from"] = int(d.get("resumed_from") or 0)
        d.setdefault("best_step", None)
        d.setdefault("metric", "")
        d.setdefault("goal", "")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> TrialResult:
        return cls.from_dict(json.loads(text))


def write(workdir: str | os.PathLike, result: TrialResult) -> str:
    """Writes `workdir/result.json` atomically (a temporary file, then `os.replace`)."""
    path = os.path.join(os.fspath(workdir), RESULT_FILE)
    write_atomic(path, result.to_json() + "\n")
    return path


def write_atomic(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file and `os.replace`: a reader
    sees the old file or the new one, never part of one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read(workdir: str | os.PathLike) -> TrialResult | None:
    """The stored result, or None when there is none or it cannot be read.

    result.json is only ever replaced whole (see `write`), so one that exists and
    cannot be read is damaged: that is logged, naming the file, and the trial is
    treated as unfinished (it resumes from its latest checkpoint).
    """
    path = os.path.join(os.fspath(workdir), RESULT_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return TrialResult.from_json(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as e:
        log.warning("%s is unreadable (%s: %s); the trial is treated as unfinished", path,
                    type(e).__name__, (str(e).splitlines() or [""])[0][:200])
        return None


def _finite_or_none(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in d.items()}


def _nan_for_none(d: dict[str, Any] | None) -> dict[str, float] | None:
    if d is None:
        return None
    return {k: (math.nan if v is None else float(v)) for k, v in d.items()}
