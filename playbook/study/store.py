"""A study directory on disk: its files, trial claims, and trial states.

Layout (everything in open formats; nothing is unpickled or executed on load):

    STUDY_DIR/study.json                 the validated spec, designer state
    STUDY_DIR/trials/<id>/               a trial directory (playbook.trial_files): trial.json,
                                         config.json, metrics.jsonl, result.json, error.txt
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
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from playbook import trial_files

# read_json: the study's readers take it from here too.
from playbook.atomic import read_json, remove_temporaries, warn_damaged, write_json
from playbook.errors import ConfigError

_TRIAL_ID = re.compile(r"^[0-9]{4,}(-seed[0-9]+)?$")

# How long a runner waits for a trial's lock before leaving the trial to whoever holds it.
CLAIM_GRACE_S = 2.0


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
        """Replaces study.json (unless it holds `study` already: a resumed study's is
        left untouched); call under `study_lock`, which every writer of it holds."""
        remove_temporaries(self.root)
        write_json(self.study_json, study, if_changed=True)

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
        if trial_files.read_record(path) is not None:
            return
        # A damaged trial.json is written again; an intact config.json is left as it is.
        remove_temporaries(path)  # of a creation killed midway: nobody claims the trial yet
        if trial_files.read_config(path) is None:
            trial_files.write_config(path, config)
        trial_files.write_record(path, record.to_json())

    def readable_trial_ids(self) -> list[str]:
        """The trials whose trial.json can be read (`trial_ids` lists every one)."""
        return [t for t in self.trial_ids()
                if trial_files.read_record(os.path.join(self.trials_dir, t)) is not None]

    def trial_ids(self) -> list[str]:
        """The trials on disk; a trial directory that links outside the study is left out."""
        if not os.path.isdir(self.trials_dir):
            return []
        ids = []
        for name in sorted(os.listdir(self.trials_dir)):
            path = os.path.join(self.trials_dir, name)
            if not _TRIAL_ID.match(name) or not os.path.exists(
                    trial_files.path(path, trial_files.TRIAL_FILE)):
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
        meta = trial_files.read_record(path, warn=True)
        if meta is None:
            return None
        record = TrialRecord(
            trial_id=trial_id, index=int(meta.get("index", -1)),
            scientific=dict(meta.get("scientific", {})), nuisance=dict(meta.get("nuisance", {})),
            point=tuple(meta.get("point", ())), seed=int(meta.get("seed", 0)),
            repeats=meta.get("repeats"))
        result = trial_files.read_result(path)
        if result is not None:
            return dataclasses.replace(
                record, status=result.status, objective=trial_files.objective(result, metric),
                best_step=result.best_step, steps=result.steps)
        status = "running" if self.is_claimed(trial_id) else "pending"
        return dataclasses.replace(record, status=status, steps=trial_files.last_step(path))

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
        with open(trial_files.path(self.trial_dir(trial_id), trial_files.ATTEMPTS_FILE), "a") as f:
            f.write(line + "\n")

    def last_attempt_time(self, trial_id: str) -> float | None:
        """When the trial's latest attempt started (time.time()), or None."""
        attempt = self.last_attempt(trial_id)
        return None if attempt is None else float(attempt["time"])

    def last_attempt(self, trial_id: str) -> dict[str, Any] | None:
        """The trial's latest readable attempts.jsonl record (time, host, pid, ppid,
        ray_task), or None."""
        try:
            with open(trial_files.path(self.trial_dir(trial_id), trial_files.ATTEMPTS_FILE),
                      "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return None
        for text in reversed(lines):
            try:
                record = json.loads(text)
                float(record["time"])
            except (ValueError, KeyError, TypeError):
                continue
            return record
        return None

    def attempts(self, trial_id: str) -> int:
        try:
            with open(trial_files.path(self.trial_dir(trial_id), trial_files.ATTEMPTS_FILE)) as f:
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
