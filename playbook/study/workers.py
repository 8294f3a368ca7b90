"""Worker processes that run a study's units and can be stopped: the `processes`
executor's pool, and the `inline` executor's one worker when the study has a
`trial_timeout`.

Each worker is a spawned process (no inherited JAX state or locks) that serves units
one at a time over a pipe. It imports the training code before it asks for work (a
trial's clock, `timeouts.Clock`, then counts training, not imports), and it lives from
one unit to the next, so compiled programs are reused across its trials as in one
process. A worker whose unit runs past the timeout is killed (SIGKILL: code that hangs
may ignore anything else) and the unit's trials are recorded (`timeouts.record`); a
worker that dies otherwise (killed from outside, out of memory) costs only its own
unit, whose trials stay pending and resume from their latest checkpoints. Either way
a new worker takes its place, on the same device, and the other workers' trials run on.
A Ctrl-C stops every worker at once (their trials resume from their checkpoints). A
worker told to stop mid-unit (SIGTERM: the parent interrupted) unwinds as the `playbook`
command does: its trial writes its best so far and stays pending, and the worker exits
normally, releasing what it holds (tensorboardX's queue semaphores, which a killed
process leaves for multiprocessing's resource tracker to report as leaked).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import connection

from playbook.interrupts import EXIT_INTERRUPTED, Terminated
from playbook.study import timeouts
from playbook.study.runner import Unit
from playbook.study.store import StudyStore

READY = "ready"
STOP_WAIT_S = 10.0  # for a worker to exit once told to, before it is killed


def _serve(conn: connection.Connection, device: str | None) -> None:
    """A worker's life: run each unit it is sent and send back {trial id: status}, or
    the exception that escaped `run_unit` (a storage fault), until told to stop."""
    # A Ctrl-C reaches every process of the terminal: a worker stops at once and quietly
    # (its trial resumes from its latest checkpoint) and the parent reports the interruption.
    signal.signal(signal.SIGINT, lambda *_: os._exit(EXIT_INTERRUPTED))
    signal.signal(signal.SIGTERM, _terminated)
    try:
        _serve_units(conn, device)
    except Terminated:
        return  # a normal exit (see the module's docstring); the parent reports the stop


def _terminated(signum, frame) -> None:
    raise Terminated()


def _serve_units(conn: connection.Connection, device: str | None) -> None:
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    from playbook.study.runner import run_unit

    try:
        from playbook.train import loop  # noqa: F401 - what every trial imports
    except Exception:  # noqa: BLE001 - each trial's own run reports it
        pass
    conn.send(READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        study_dir, unit = task
        try:
            reply = ("ok", run_unit(study_dir, unit))
        except Exception as e:  # noqa: BLE001 - raised again in the parent
            reply = ("raised", e)
        try:
            conn.send(reply)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("raised", RuntimeError(traceback.format_exc())))


class _Worker:
    def __init__(self, ctx, device: str | None):
        self.device = device
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, device), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.unit: Unit | None = None
        self.clock: timeouts.Clock | None = None

    def give(self, study_dir: str, unit: Unit) -> None:
        self.unit = unit
        self.clock = timeouts.Clock(StudyStore(study_dir), unit.trial_ids)
        self.conn.send((study_dir, unit))

    def stop(self, now: bool) -> None:
        if self.process.is_alive():
            if now:
                self.process.terminate()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    pass
        self.process.join(STOP_WAIT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class Pool:
    """Worker processes, one per entry of `devices` (a CUDA device id, or None to keep
    the environment's); units running past `timeout` seconds are stopped."""

    def __init__(self, devices: Sequence[str | None], timeout: float | None = None):
        self.devices = list(devices)
        self.timeout = timeout

    def map(self, study_dir: str, units: Sequence[Unit],
            on_update: Callable[[], None] | None = None) -> dict[str, str]:
        ctx = multiprocessing.get_context("spawn")  # No inherited JAX state or locks.
        queue = list(units)
        workers = [_Worker(ctx, d) for d in self.devices[:max(1, len(queue))]]
        statuses: dict[str, str] = {}
        finished = False
        try:
            while queue or any(w.unit is not None for w in workers):
                for w in workers:
                    if w.ready and w.unit is None and queue:
                        w.give(study_dir, queue.pop(0))
                connection.wait([w.conn for w in workers] + [w.process.sentinel for w in workers],
                                timeout=timeouts.POLL_S if self.timeout else None)
                running = []
                for w in workers:
                    if self._check(w, study_dir, statuses) and on_update:
                        on_update()
                    if w.process.is_alive() and not w.conn.closed:
                        running.append(w)
                    else:  # dead or killed: a new worker takes its place if work is left
                        w.stop(now=True)
                        if queue:
                            running.append(_Worker(ctx, w.device))
                workers = running
            finished = True
        finally:
            for w in workers:
                w.stop(now=not finished)
        return statuses

    def _check(self, w: _Worker, study_dir: str, statuses: dict[str, str]) -> bool:
        """Takes in what the worker sent, or its death, or stops it past the timeout;
        whether its unit ended."""
        message = None
        try:
            if w.conn.poll():
                message = w.conn.recv()
        except (EOFError, OSError):  # it died mid-message
            message = None
        if message == READY:
            w.ready = True
            return False
        if message is not None:
            kind, value = message
            if kind == "raised":
                raise value
            statuses.update(value)
            w.unit = None
            return True
        if not w.process.is_alive():
            if not w.ready:
                raise RuntimeError(f"a worker process exited with code {w.process.exitcode} "
                                   f"before it could train a trial")
            if w.unit is None:
                return False
            # Killed from outside or out of memory: its trials resume on the next run.
            statuses.update(dict.fromkeys(w.unit.trial_ids, "pending"))
            w.unit = None
            return True
        if w.unit is None or self.timeout is None:
            return False
        elapsed = w.clock.elapsed()
        if elapsed <= self.timeout:
            return False
        pid = w.process.pid
        w.process.kill()
        w.process.join()
        w.conn.close()
        statuses.update(timeouts.record(study_dir, w.unit.trial_ids, self.timeout, elapsed,
                                        lambda attempt: attempt.get("pid") == pid))
        w.unit = None
        return True
