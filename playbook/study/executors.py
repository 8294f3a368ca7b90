"""Executors: where a study's trials run.

- `inline` (default): one after another in this process; compiled programs
  are reused across trials of the same structure (see playbook.train.loop).
- `processes`: a pool of worker processes, one per local GPU (each sees only
  its own device through CUDA_VISIBLE_DEVICES) or N CPU workers.
- `ray`: Ray tasks on an existing cluster (`address`) or a local one; results
  go to the study directory, which must be a path every node can reach.

Every executor maps `runner.run_unit(study_dir, unit)` over units of work (one
trial, or a group trained in one program), which claims each trial with a file
lock: a trial is never trained twice at once, whichever runners, processes or
nodes ask for it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence

from playbook.errors import ConfigError, storage_fault
from playbook.interrupts import EXIT_INTERRUPTED
from playbook.study.runner import Unit

NAMES = ("inline", "processes", "ray")


class Inline:
    slots = 1

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
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


def _init_worker(devices) -> None:
    # A Ctrl-C reaches every process of the terminal: a worker stops at once and quietly
    # (its trial resumes from its latest checkpoint) and the parent reports the interruption.
    signal.signal(signal.SIGINT, lambda *_: os._exit(EXIT_INTERRUPTED))
    device = devices.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device


def _run(study_dir: str, unit: Unit) -> dict[str, str]:
    from playbook.study.runner import run_unit

    return run_unit(study_dir, unit)


class Processes:
    """One worker process per local GPU, or `workers` CPU processes."""

    def __init__(self, workers: int | None = None):
        gpus = local_gpus()
        self.devices: list[str | None] = list(gpus) if gpus else [None] * (workers or 2)
        if workers:
            self.devices = self.devices[:workers] if gpus else [None] * workers
        self.slots = len(self.devices)

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
        ctx = multiprocessing.get_context("spawn")  # No inherited JAX state or locks.
        devices = ctx.Queue()
        for device in self.devices:
            devices.put(device)
        statuses: dict[str, str] = {}
        with cf.ProcessPoolExecutor(max_workers=self.slots, mp_context=ctx,
                                    initializer=_init_worker, initargs=(devices,)) as pool:
            futures = {pool.submit(_run, study_dir, unit): unit for unit in units}
            try:
                self._collect(futures, statuses, on_update)
            except KeyboardInterrupt:
                for process in list(pool._processes.values()):  # not left training
                    process.terminate()
                raise
        return statuses

    @staticmethod
    def _collect(futures, statuses: dict[str, str], on_update) -> None:
        for future in cf.as_completed(futures):
            try:
                statuses.update(future.result())
            except cf.process.BrokenProcessPool:
                # A worker died (killed, out of memory): its trials stay pending and
                # resume from their latest checkpoints on the next run.
                statuses.update(dict.fromkeys(futures[future].trial_ids, "pending"))
            if on_update:
                on_update()


class Ray:
    """Ray tasks, each training one trial on the resources it asks for."""

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 local_cpus: int | None = None):
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

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
        refs = {self._task.options(**self.options).remote(study_dir, u): u for u in units}
        statuses: dict[str, str] = {}
        waiting = list(refs)
        while waiting:
            done, waiting = self.ray.wait(waiting, num_returns=1)
            for ref in done:
                try:
                    statuses.update(self.ray.get(ref))
                except self.ray.exceptions.RayError as e:
                    if storage_fault(e) is not None:
                        raise  # A full or read-only disk: retrying would fail the same way.
                    # Worker lost: resumes on the next run.
                    statuses.update(dict.fromkeys(refs[ref].trial_ids, "pending"))
                if on_update:
                    on_update()
        return statuses


def create(name: str, workers: int | None = None, address: str | None = None,
           num_cpus: float = 1, num_gpus: float = 0):
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers} (e.g. --workers 2)")
    if num_cpus < 0 or num_gpus < 0:
        raise ConfigError(f"--cpus_per_trial and --gpus_per_trial cannot be negative, got "
                          f"{num_cpus} and {num_gpus}")
    if name == "inline":
        return Inline()
    if name == "processes":
        return Processes(workers)
    if name == "ray":
        return Ray(address=address, num_cpus=num_cpus, num_gpus=num_gpus, local_cpus=workers)
    raise ConfigError(f"unknown executor '{name}'; valid executors: {', '.join(NAMES)}")
