"""A trial directory's files: their names, their formats, and the only code that
reads and writes them. Training, the study, the analysis and the dashboard all
come here, so this module imports no JAX and no pandas.

    trial.json     the trial as its study created it: scientific and nuisance values,
                   point, seed, the trial a seed rerun repeats (playbook.study.store)
    config.json    the trial's full resolved config
    metrics.jsonl  one JSON object per logged step, `{"step": 100, "train/loss": 0.41}`,
                   appended; non-finite values as `null`, read back as NaN
    result.json    how the trial ended (`TrialResult`), written once, when it ends
    error.txt      a failed trial's traceback

A trial is `pending` or `running` until its result.json says it ended: `done`
(trained `max_train_steps`), `diverged` (a finished, infeasible trial, not an
error; `reason` says why: `non_finite` loss or gradient norm, `loss_explosion`,
`collapsed` back to chance level after it had learned, or `at_chance`: its
metric ended at chance without it ever having clearly learned) or `failed` (no
value: `reason` says why, `exception` (its traceback in `error`),
`metric_missing` (an external trainer reported no value of the study's metric)
or `timeout` (stopped past the study's `trial_timeout`)). Playbook: the best
checkpoint is chosen retrospectively, so `best` (validation metrics at
`best_step`) is the trial's outcome and `final` only says where it ended. The
JSON files are replaced whole (playbook.atomic): one that does not parse is
damage, named in a warning and read as missing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from playbook import atomic
from playbook.errors import ConfigError

TRIAL_FILE = "trial.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
ATTEMPTS_FILE = "attempts.jsonl"  # written by playbook.study.store

STATUSES = ("pending", "running", "done", "diverged", "failed")
UNFINISHED = ("pending", "running")  # no result.json yet
ENDED = ("done", "diverged", "failed")  # the statuses a result.json holds
FINISHED = ("done", "diverged")  # training them again returns the stored result
FEASIBLE = ("done",)  # Playbook: "divergent trials infeasible"; a failed one has no value
INFEASIBLE = ("diverged", "failed")
DIVERGED_REASONS = ("non_finite", "loss_explosion", "collapsed", "at_chance")  # why infeasible
FAILED_REASONS = ("exception", "metric_missing", "timeout")  # why a trial has no value
REASONS = DIVERGED_REASONS + FAILED_REASONS
REASONS_OF = {"diverged": DIVERGED_REASONS, "failed": FAILED_REASONS, "done": ()}

log = logging.getLogger(__name__)


def path(trial_dir: str | os.PathLike, name: str) -> str:
    """The path of the trial directory's file `name` (one of the names above)."""
    return os.path.join(os.fspath(trial_dir), name)


# -- result.json ---------------------------------------------------------------------


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
    """What one trial ended with, as result.json stores it."""

    status: str  # one of ENDED
    best_step: int | None
    best: dict[str, float] | None  # validation metrics at best_step, e.g. 'valid/error_rate'
    final: dict[str, float] | None  # validation metrics at the last evaluation
    steps: int  # training steps completed
    max_train_steps: int
    metric: str  # selection metric, e.g. 'valid/error_rate'
    goal: str  # 'minimize' | 'maximize' ('' when the trial failed before it was known)
    throughput: Throughput = Throughput()
    best_checkpoint: str | None = None
    error: str | None = None  # traceback of a failed trial
    # Trials that shared one compiled program in the run that produced the result
    # (playbook.train.batched; 1: trained alone). Its throughput is per trial of that program.
    trials_per_program: int = 1
    # Why a diverged trial is infeasible (DIVERGED_REASONS) or a failed one has no value
    # (FAILED_REASONS); None for a done trial (and for results older versions wrote).
    reason: str | None = None
    # The step the run that produced the result started from: 0 from scratch, else the
    # latest checkpoint it restored after an interruption.
    resumed_from: int = 0
    # The selection metric's value at chance (playbook.train.collapse.ChanceLevel) when the
    # workload, its labels or the config declared one; None when unknown.
    chance: float | None = None

    def __post_init__(self):
        if self.status not in ENDED:
            raise ValueError(f"status '{self.status}' is not one of {', '.join(ENDED)}")
        allowed = REASONS_OF[self.status]
        if self.reason is not None and self.reason not in allowed:
            raise ValueError(f"reason '{self.reason}' of a {self.status} trial is not one of "
                             f"{', '.join(allowed) or 'none (a done trial has no reason)'}")

    @property
    def cause(self) -> str | None:
        """Why the trial is infeasible or has no value: its reason, `exception` for a failed
        result written before failures had reasons; None for a done trial."""
        if self.status == "failed":
            return self.reason or "exception"
        return self.reason

    @property
    def objective(self) -> float | None:
        """The selection metric at `best_step`; None unless the trial is feasible."""
        return objective(self)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["best"], d["final"] = _finite_or_none(self.best), _finite_or_none(self.final)
        d["throughput"] = _finite_or_none(d["throughput"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialResult:
        """The result a result.json's object describes; ValueError or TypeError when it
        describes none. Fields it lacks (older versions wrote fewer) take defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["best"], d["final"] = _nan_for_none(d.get("best")), _nan_for_none(d.get("final"))
        d["throughput"] = Throughput(**(_nan_for_none(d.get("throughput")) or {}))
        for key in ("steps", "max_train_steps"):
            d[key] = int(d.get(key) or 0)
        d["trials_per_program"] = int(d.get("trials_per_program") or 1)
        d["resumed_from"] = int(d.get("resumed_from") or 0)
        d["chance"] = None if d.get("chance") is None else float(d["chance"])
        d.setdefault("best_step", None)
        d.setdefault("metric", "")
        d.setdefault("goal", "")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> TrialResult:
        return cls.from_dict(json.loads(text))


def failed(error: str, config: Mapping[str, Any] | None = None, reason: str = "exception",
           steps: int = 0) -> TrialResult:
    """The result of a trial that raised `error` (its traceback), or was stopped for
    `reason` (FAILED_REASONS) after `steps` steps, with its length and metric from
    `config` where that could be read."""
    from playbook import external  # no JAX either; external's config module reads configs

    config = config or {}
    try:
        length = external.length(config)
    except ConfigError:  # a declared length key that names none: the failure says so
        length = 0
    return TrialResult(status="failed", best_step=None, best=None, final=None, steps=steps,
                       max_train_steps=int(length or 0),
                       metric=str(config.get("metric", "") or ""), goal="", error=error,
                       reason=reason)


def write_result(trial_dir: str | os.PathLike, result: TrialResult) -> str:
    """Writes result.json atomically; returns its path."""
    os.makedirs(os.fspath(trial_dir), exist_ok=True)
    target = path(trial_dir, RESULT_FILE)
    atomic.write_text(target, result.to_json() + "\n")
    return target


def read_result(trial_dir: str | os.PathLike) -> TrialResult | None:
    """The stored result, or None when there is none or it cannot be read.

    result.json is only ever replaced whole, so one that exists and cannot be read
    is damaged: that is logged once, naming the file, and the trial is treated as
    unfinished (it resumes from its latest checkpoint).
    """
    target = path(trial_dir, RESULT_FILE)
    stored = atomic.read_json(target, warn=True)
    if stored is None:
        return None
    try:
        return TrialResult.from_dict(stored)
    except (ValueError, TypeError, AttributeError) as e:
        atomic.warn_damaged(target, f"{type(e).__name__}: {atomic.first_line(e)}")
        return None


def status(trial_dir: str | os.PathLike) -> str | None:
    """How the trial ended (one of ENDED), or None while it has no readable result."""
    result = read_result(trial_dir)
    return None if result is None else result.status


def objective(result: TrialResult | None, metric: str | None = None) -> float | None:
    """A feasible trial's objective: the value of `metric` (default: the result's own
    selection metric) in its best validation metrics, those of the step its goal
    ranked best during training; a `metric` 'valid/x' also finds a value logged as 'x'.
    None for an infeasible or unfinished trial, or a value that is missing or NaN."""
    if result is None or result.status not in FEASIBLE or not result.best:
        return None
    metric = metric or result.metric
    for key in (metric, metric.split("/", 1)[-1]):
        value = result.best.get(key)
        if value is not None and not math.isnan(value):
            return float(value)
    return None


def _finite_or_none(d: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in d.items()}


def _nan_for_none(d: Mapping[str, Any] | None) -> dict[str, float] | None:
    if d is None:
        return None
    return {k: (math.nan if v is None else float(v)) for k, v in d.items()}



def set_aside_result(trial_dir: str | os.PathLike, attempt: int) -> str:
    """Renames result.json to result.failed-<attempt>.json (the trial is pending again,
    its old outcome kept beside it); the new path."""
    old = path(trial_dir, RESULT_FILE)
    new = path(trial_dir, f"result.failed-{attempt}.json")
    os.replace(old, new)
    return new

# -- trial.json, config.json, error.txt ----------------------------------------------


def write_record(trial_dir: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Writes trial.json (the store's `TrialRecord.to_json()`) atomically."""
    atomic.write_json(path(trial_dir, TRIAL_FILE), dict(record))


def read_record(trial_dir: str | os.PathLike, warn: bool = False) -> dict[str, Any] | None:
    """trial.json's object, or None when missing or damaged (with `warn`: named once)."""
    return atomic.read_json(path(trial_dir, TRIAL_FILE), warn=warn)


def write_config(trial_dir: str | os.PathLike, config: Mapping[str, Any]) -> None:
    """Writes config.json (a config as nested plain values, keys sorted) atomically."""
    os.makedirs(os.fspath(trial_dir), exist_ok=True)
    atomic.write_json(path(trial_dir, CONFIG_FILE), dict(config), sort_keys=True)


def read_config(trial_dir: str | os.PathLike, warn: bool = False) -> dict[str, Any] | None:
    """config.json's object, or None when missing or damaged (with `warn`: named once)."""
    return atomic.read_json(path(trial_dir, CONFIG_FILE), warn=warn)


def write_error(trial_dir: str | os.PathLike, text: str) -> None:
    """Writes a failed trial's traceback to error.txt atomically."""
    os.makedirs(os.fspath(trial_dir), exist_ok=True)
    atomic.write_text(path(trial_dir, ERROR_FILE), text if text.endswith("\n") else text + "\n")


def read_error(trial_dir: str | os.PathLike) -> str | None:
    """error.txt's text (undecodable bytes replaced), or None when there is none."""
    try:
        with open(path(trial_dir, ERROR_FILE), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


# -- metrics.jsonl -------------------------------------------------------------------


def metrics_line(step: int, scalars: Mapping[str, float]) -> str:
    """One metrics.jsonl record, newline included; non-finite values as null."""
    record = {"step": int(step), **{k: (float(v) if math.isfinite(v) else None)
                                    for k, v in scalars.items()}}
    return json.dumps(record, allow_nan=False) + "\n"


def read_records(path: str | os.PathLike, malformed: str = "raise") -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl in file order, nulls as NaN.

    A truncated last line (a process killed mid-write) is skipped. A malformed
    line elsewhere (a damaged file) is a ValueError naming it, or with
    `malformed="skip"` a warning naming it, and the line is skipped.
    """
    if malformed not in ("raise", "skip"):
        raise ValueError(f"malformed={malformed!r}; valid: 'raise', 'skip'")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _record(line)
        if record is None:
            if number == len(lines):  # No newline after it: the write never finished.
                break
            message = f"{path}:{number} is not a JSON object with a step: {line[:80]!r}"
            if malformed == "raise":
                raise ValueError(message)
            log.warning("%s; skipped", message)
            continue
        records.append({k: math.nan if v is None else v for k, v in record.items()})
    return records


def read_metrics(path: str | os.PathLike, malformed: str = "raise") -> list[dict[str, Any]]:
    """One dict per step, in step order, merging that step's records.

    A later record overrides an earlier one's keys: after a resumption from an
    earlier checkpoint, the rerun's values are the ones that count. `malformed`
    is as in `read_records`.
    """
    by_step: dict[int, dict[str, Any]] = {}
    for record in read_records(path, malformed):
        by_step.setdefault(int(record["step"]), {}).update(record)
    return [by_step[step] for step in sorted(by_step)]


def last_step(trial_dir: str | os.PathLike) -> int:
    """The last step recorded in a trial's metrics.jsonl (0 if none); tolerates a torn
    line. Reads only the file's end: a study's status asks this of every trial."""
    try:
        with open(path(trial_dir, METRICS_FILE), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        if (record := _record(line)) is not None:
            return int(record["step"])
    return 0


def drop_metrics_after(path: str | os.PathLike, step: int) -> None:
    """Removes the records of steps after `step` (written before a resumption from
    `step`), atomically; lines that do not parse are kept as they are."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines(keepends=True)
    kept = [line for line in lines if (r := _record(line)) is None or r["step"] <= step]
    if len(kept) < len(lines):
        atomic.write_text(path, "".join(kept))


def drop_partial_last_line(path: str | os.PathLike) -> None:
    """Cuts an unfinished last record, so that appending cannot glue onto it."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def _record(line: str) -> dict[str, Any] | None:
    """The JSON object a metrics line holds, if it has an integer step (a float one of an
    integer value counts, as other writers write it), else None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    step = record.get("step")
    if isinstance(step, float) and step.is_integer():
        record["step"] = step = int(step)
    if not isinstance(step, int) or isinstance(step, bool):
        return None
    return record
