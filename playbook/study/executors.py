"""Executors: where a study's trials run.

- `inline` (default): one after another in this process; compiled programs
  are reused across trials of the same structure (see playbook.train.loop).
- `processes`: worker processes (playbook.study.workers), one per local GPU (each
  sees only its own device through CUDA_VISIBLE_DEVICES) or N CPU workers.
- `ray`: Ray tasks on an existing cluster (`address`) or a local one; results
  go to the study directory, which must be a path every node can reach.

Every executor maps `runner.run_unit(study_dir, unit)` over units of work (one
trial, or a group trained in one program), which claims each trial with a file
lock: a trial is never trained twice at once, whichever runners, processes or
nodes ask for it.

`timeout` (the study's `trial_timeout`, or `--trial_timeout`): a unit whose trial
has been running longer (counted from the trial's start, not from the time its
unit waited for a worker) is stopped, not waited for, and its unfinished trials are
recorded `failed` with reason `timeout` (playbook.study.timeouts); the study goes
on. How each executor stops one:

- `processes`: its worker process is killed and replaced; the other workers'
  trials run on.
- `ray`: its task is cancelled with force (`ray.cancel(ref, force=True)` kills the
  Ray worker process); the others run on.
- `inline`: with a timeout, each unit runs in one child process (a worker of
  playbook.study.workers, kept from unit to unit) that is killed past it and
  replaced. A timer in this process (SIGALRM raising in the main thread) would keep
  everything in one process, but it cannot stop a trial stuck in native code (a
  compiled program, a data loader's C call, a deadlock) that never returns to the
  interpreter, and it would leave that trial's threads and locks behind in the
  runner; a process can always be killed. The price: the child imports the training
  code and compiles its programs again after each kill, and trials no longer share
  this process's compiled programs (they share the child's). Without a timeout,
  inline trials run in this process as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

from playbook.errors import ConfigError, storage_fault
from playbook.study import timeouts
from playbook.study.runner import Unit
from playbook.study.spec_parse import parse_trial_timeout
from playbook.study.store import StudyStore
from playbook.study.workers import Pool

NAMES = ("inline", "processes", "ray")


class Inline:
    slots = 1

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
        if self.timeout is not None:  # in a child process that can be stopped (docstring)
            return Pool([None], self.timeout).map(study_dir, units, on_update)
        from playbook.study.runner import run_unit

        statuses = {}
        for unit in units:
            statuses.update(run_unit(study_dir, unit))
            if on_update:
                on_update()
        return statuses


def local_gpus() -> list[str]:
    """Ids of local NVIDIA GPUs, without initialising JAX in this (parent) process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def _run(study_dir: str, unit: Unit) -> dict[str, str]:
    from playbook.study.runner import run_unit

    try:  # what every trial imports, before the trial's start (its clock) is recorded
        from playbook.train import loop  # noqa: F401
    except Exception:  # noqa: BLE001 - each trial's own run reports it
        pass
    return run_unit(study_dir, unit)


class Processes:
    """One worker process per local GPU, or `workers` CPU processes."""

    def __init__(self, workers: int | None = None, timeout: float | None = None):
        gpus = local_gpus()
        self.devices: list[str | None] = list(gpus) if gpus else [None] * (workers or 2)
        if workers:
            self.devices = self.devices[:workers] if gpus else [None] * workers
        self.slots = len(self.devices)
        self.timeout = timeout

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
        return Pool(self.devices, self.timeout).map(study_dir, units, on_update)


class Ray:
    """Ray tasks, each training one trial on the resources it asks for."""

    timeout: float | None = None

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 local_cpus: int | None = None, timeout: float | None = None):
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'playbook[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=local_cpus, log_to_driver=False, include_dashboard=False)
        self.options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": 0}
        total = ray.cluster_resources().get("CPU", 1)
        self.slots = max(1, int(total // max(num_cpus, 1e-9)))
        self._task = ray.remote(_run)
        self.timeout = timeout

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
        running: dict = {}  # ref -> (unit, its clock with a timeout, else None)
        for unit in units:
            ref = self._task.options(**self.options).remote(study_dir, unit)
            running[ref] = (unit, self.timeout and timeouts.Clock(StudyStore(study_dir),
                                                                  unit.trial_ids))
        statuses: dict[str, str] = {}
        while running:
            if self.timeout is None:
                done, _ = self.ray.wait(list(running), num_returns=1)
            else:
                done, _ = self.ray.wait(list(running), num_returns=1, timeout=timeouts.POLL_S)
            for ref in done:
                self._collect(ref, running.pop(ref)[0], statuses)
                if on_update:
                    on_update()
            for ref, (unit, clock) in list(running.items()):
                if clock and (elapsed := clock.elapsed()) > self.timeout:
                    self._stop(study_dir, ref, unit, elapsed, statuses)
                    del running[ref]
                    if on_update:
                        on_update()
        return statuses

    def _collect(self, ref, unit: Unit, statuses: dict[str, str]) -> None:
        try:
            statuses.update(self.ray.get(ref))
        except self.ray.exceptions.RayError as e:
            if storage_fault(e) is not None:
                raise  # A full or read-only disk: retrying would fail the same way.
            # Worker lost: resumes on the next run.
            statuses.update(dict.fromkeys(unit.trial_ids, "pending"))

    def _stop(self, study_dir: str, ref, unit: Unit, elapsed: float,
              statuses: dict[str, str]) -> None:
        """Cancels a task past the timeout (killing its worker process) and records it."""
        task = ref.task_id().hex()
        self.ray.cancel(ref, force=True)
        statuses.update(timeouts.record(study_dir, unit.trial_ids, self.timeout, elapsed,
                                        lambda attempt: attempt.get("ray_task") == task))


def create(name: str, workers: int | None = None, address: str | None = None,
           num_cpus: float = 1, num_gpus: float = 0, timeout: float | None = None):
    """The executor `name`; `timeout`: seconds a unit may run (None: no limit)."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers} (e.g. --workers 2)")
    if num_cpus < 0 or num_gpus < 0:
        raise ConfigError(f"--cpus_per_trial and --gpus_per_trial cannot be negative, got "
                          f"{num_cpus} and {num_gpus}")
    parse_trial_timeout(timeout, flag=True)
    if name == "inline":
        return Inline(timeout)
    if name == "processes":
        return Processes(workers, timeout)
    if name == "ray":
        return Ray(address=address, num_cpus=num_cpus, num_gpus=num_gpus, local_cpus=workers,
                   timeout=timeout)
    raise ConfigError(f"unknown executor '{name}'; valid executors: {', '.join(NAMES)}")
