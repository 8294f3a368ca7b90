"""A study directory on disk: its files, atomic writes, trial claims, and trial states.

Layout (everything in open formats; nothing is unpickled or executed on load):

    STUDY_DIR/study.json                 the validated spec, designer state
    STUDY_DIR/trials/<id>/trial.json     scientific + nuisance values, point, seed, repeats
    STUDY_DIR/trials/<id>/config.json    the trial's full resolved config
    STUDY_DIR/trials/<id>/result.json    written by the trial when it ends
    STUDY_DIR/trials/<id>/lock           held (flock) while a runner trains the trial
    STUDY_DIR/trials/<id>/attempts.jsonl one line per start of the trial: time, host, the
                                         process (pid) and its parent (ppid: the runner,
                                         for a worker process), and the Ray task id when
                                         a Ray task started it

A trial is claimed with an exclusive, non-blocking `flock` on its lock file, so
two runners never train the same trial, and a runner killed mid-trial releases
its claim with its process. This module does no training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from playbook.errors import ConfigError

STATUSES = ("pending", "running", "done", "diverged", "failed")
FINISHED = ("done", "diverged")
_TRIAL_ID = re.compile(r"^[0-9]{4,}(-seed[0-9]+)?$")

# How long a runner waits for a trial's lock before leaving the trial to whoever holds it.
CLAIM_GRACE_S = 2.0

log = logging.getLogger(__name__)


def write_json_atomic(path: str, obj: Any) -> None:
    """Writes JSON so a reader sees the old file or the new one, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=False, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_TEMPORARY = re.compile(r"^(\.tmp-.*\.json|.+\.tmp-[0-9]+)$")


def remove_temporaries(directory: str) -> list[str]:
    """Deletes the temporaries that writers killed mid-write left in `directory`
    (`.tmp-*.json` of `write_json_atomic`, `NAME.tmp-<pid>` of a trial's own writes).

    Call only while holding what serialises the directory's writers (the study
    lock for the study root, a trial's claim for its directory).
    """
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if _TEMPORARY.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))
                    removed.append(name)
    return removed


def read_json(path: str, *, warn: bool = False) -> dict | None:
    """The JSON object in `path`, or None if it is missing or unreadable (half-written).

    Every JSON file of a study is written atomically, so a reader never sees one
    being written: one that exists but does not parse was damaged (a crash of a
    copy, a full disk, an edit). With `warn`, that is logged once, naming the file.
    """
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        if warn:
            warn_damaged(path, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return None
    if not isinstance(obj, dict):
        if warn:
            warn_damaged(path, f"a JSON {type(obj).__name__}, not an object")
        return None
    return obj


_WARNED: set[tuple[str, str]] = set()


def warn_damaged(path: str, problem: str) -> None:
    """Logs once per process that `path` is damaged and is read as missing."""
    if (path, problem) not in _WARNED:
        _WARNED.add((path, problem))
        log.warning("%s is unreadable (%s); it is treated as missing", path, problem)


def check_trial_id(trial_id: str) -> str:
    """Trial ids are generated, never user paths: reject anything that could escape the study."""
    if not _TRIAL_ID.match(trial_id):
        raise ConfigError(f"'{trial_id}' is not a trial id; ids look like 0007 or 0007-seed1")
    return trial_id


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """A trial as stored in its trial.json, with its current state read from disk."""

    trial_id: str
    index: int                 # position in the designer's sequence; -1 for reruns
    scientific: dict[str, Any]
    nuisance: dict[str, Any]
    point: tuple[float, ...]
    seed: int
    repeats: str | None        # the trial a seed rerun repeats
    status: str = "pending"
    objective: float | None = None
    best_step: int | None = None
    steps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "index": self.index, "scientific": self.scientific,
                "nuisance": self.nuisance, "point": list(self.point), "seed": self.seed,
                "repeats": self.repeats}


class StudyStore:
    """Reads and writes one study directory."""

    def __init__(self, study_dir: str):
        self.root = os.path.abspath(study_dir)
        self.trials_dir = os.path.join(self.root, "trials")

    # -- paths ------------------------------------------------------------------------

    @property
    def study_json(self) -> str:
        return os.path.join(self.root, "study.json")

    def trial_dir(self, trial_id: str) -> str:
        return os.path.join(self.trials_dir, check_trial_id(trial_id))

    def exists(self) -> bool:
        return os.path.exists(self.study_json)

    # -- study.json -------------------------------------------------------------------

    def read_study(self) -> dict:
        if not self.exists():
            what = ("does not exist" if not os.path.exists(self.root) else "is a file"
                    if not os.path.isdir(self.root) else "has no study.json")
            raise ConfigError(f"'{self.root}' is not a study directory (it {what}); give the "
                              f"--workdir of a `playbook study` run, or create one there with "
                              f"`playbook study --config STUDY_CONFIG --workdir {self.root}`")
        study = read_json(self.study_json)
        if study is None or "spec" not in study:
            raise ConfigError(f"'{self.study_json}' is unreadable or not a study file; restore it "
                              f"from a backup or rerun the study config into a new directory")
        return study

    def write_study(self, study: dict) -> None:
        """Replaces study.json; call under `study_lock`, which every writer of it holds."""
        remove_temporaries(self.root)
        write_json_atomic(self.study_json, study)

    @contextlib.contextmanager
    def study_lock(self) -> Iterator[None]:
        """Serialises study creation and trial generation between runners."""
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, ".study.lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- trials -----------------------------------------------------------------------

    def write_trial(self, record: TrialRecord, config: dict) -> None:
        """Creates a trial's directory; an existing trial.json is never overwritten."""
        path = self.trial_dir(record.trial_id)
        os.makedirs(path, exist_ok=True)
        if read_json(os.path.join(path, "trial.json")) is not None:
            return
        # A damaged trial.json is written again; an intact config.json is left as it is.
        remove_temporaries(path)  # of a creation killed midway: nobody claims the trial yet
        if read_json(os.path.join(path, "config.json")) is None:
            write_json_atomic(os.path.join(path, "config.json"), config)
        write_json_atomic(os.path.join(path, "trial.json"), record.to_json())

    def readable_trial_ids(self) -> list[str]:
        """The trials whose trial.json can be read (`trial_ids` lists every one)."""
        return [t for t in self.trial_ids()
                if read_json(os.path.join(self.trials_dir, t, "trial.json")) is not None]

    def trial_ids(self) -> list[str]:
        """The trials on disk; a trial directory that links outside the study is left out."""
        if not os.path.isdir(self.trials_dir):
            return []
        ids = []
        for name in sorted(os.listdir(self.trials_dir)):
            path = os.path.join(self.trials_dir, name)
            if not _TRIAL_ID.match(name) or not os.path.exists(os.path.join(path, "trial.json")):
                continue
            if (outside := self.escapes(path)) is not None:
                warn_damaged(path, f"a link to {outside}, outside the study directory")
                continue
            ids.append(name)
        return ids

    def escapes(self, path: str) -> str | None:
        """Where `path` really is when symbolic links take it outside the study directory."""
        real, root = os.path.realpath(path), os.path.realpath(self.root)
        return None if real == root or real.startswith(root + os.sep) else real

    def check_inside(self, trial_id: str) -> None:
        """ConfigError unless the trial's directory and every entry in it are inside the
        study directory: training follows no link out of it (a hand-made or copied study)."""
        path = self.trial_dir(trial_id)
        entries = [path, *(e.path for e in os.scandir(path) if e.is_symlink())]
        for entry in entries:
            if (outside := self.escapes(entry)) is not None:
                raise ConfigError(
                    f"'{entry}' is a symbolic link to '{outside}', outside the study directory "
                    f"{self.root}; a trial writes only inside it: replace the link by a copy of "
                    f"what it points to, or remove it")

    def read_trial(self, trial_id: str, metric: str) -> TrialRecord | None:
        path = self.trial_dir(trial_id)
        meta = read_json(os.path.join(path, "trial.json"), warn=True)
        if meta is None:
            return None
        record = TrialRecord(
            trial_id=trial_id, index=int(meta.get("index", -1)),
            scientific=dict(meta.get("scientific", {})), nuisance=dict(meta.get("nuisance", {})),
            point=tuple(meta.get("point", ())), seed=int(meta.get("seed", 0)),
            repeats=meta.get("repeats"))
        result = read_json(os.path.join(path, "result.json"), warn=True)
        if result is not None and result.get("status") in ("done", "diverged", "failed"):
            return dataclasses.replace(
                record, status=result["status"], objective=objective(result, metric),
                best_step=result.get("best_step"), steps=int(result.get("steps") or 0))
        status = "running" if self.is_claimed(trial_id) else "pending"
        return dataclasses.replace(record, status=status, steps=last_step(path))

    def trials(self, metric: str) -> list[TrialRecord]:
        records = (self.read_trial(t, metric) for t in self.trial_ids())
        return [r for r in records if r is not None]

    # -- claims -----------------------------------------------------------------------

    @contextlib.contextmanager
    def claim(self, trial_id: str) -> Iterator[bool]:
        """Yields True while this process holds the trial, False if another runner does.

        A lock held for less than CLAIM_GRACE_S is a reader's probe (`is_claimed`,
        from `playbook status` or a progress bar), not a runner: the claim waits it out.
        """
        self.check_inside(trial_id)
        path = os.path.join(self.trial_dir(trial_id), "lock")
        with open(path, "a") as f:
            deadline = time.monotonic() + CLAIM_GRACE_S
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            try:
                remove_temporaries(os.path.dirname(path))  # of an earlier, killed claimant
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def is_claimed(self, trial_id: str) -> bool:
        """Whether a runner trains the trial now; works on a study this process cannot write."""
        path = os.path.join(self.trial_dir(trial_id), "lock")
        try:
            f = open(path, "rb")  # flock needs no write access
        except OSError:  # no lock file: never claimed (unreadable: shown as not running)
            return False
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def record_attempt(self, trial_id: str) -> None:
        record = {"time": time.time(), "host": socket.gethostname(), "pid": os.getpid(),
                  "ppid": os.getppid()}
        if (task := _ray_task_id()) is not None:
            record["ray_task"] = task
        line = json.dumps(record)
        with open(os.path.join(self.trial_dir(trial_id), "attempts.jsonl"), "a") as f:
            f.write(line + "\n")

    def last_attempt_time(self, trial_id: str) -> float | None:
        """When the trial's latest attempt started (time.time()), or None."""
        try:
            with open(os.path.join(self.trial_dir(trial_id), "attempts.jsonl"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return None
        for text in reversed(lines):
            try:
                return float(json.loads(text)["time"])
            except (ValueError, KeyError, TypeError):
                continue
        return None

    def attempts(self, trial_id: str) -> int:
        try:
            with open(os.path.join(self.trial_dir(trial_id), "attempts.jsonl")) as f:
                return sum(1 for line in f if line.strip())
        except OSError:
            return 0


def _ray_task_id() -> str | None:
    """The id of the Ray task this process runs, if it is a Ray worker (Ray is never
    imported here: a process that runs Ray tasks has imported it already)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return None
    return context.get_task_id()


def objective(result: dict, metric: str) -> float | None:
    """A finished trial's objective: its best validation value of `metric` during training."""
    if result.get("status") != "done":
        return None  # Diverged and failed trials are infeasible.
    best = result.get("best") or {}
    for key in (metric, metric.split("/", 1)[-1]):
        if key in best and best[key] is not None:
            return float(best[key])
    return None


def last_step(trial_dir: str) -> int:
    """The last step recorded in a trial's metrics.jsonl (0 if none); tolerates a torn line."""
    path = os.path.join(trial_dir, "metrics.jsonl")
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0
