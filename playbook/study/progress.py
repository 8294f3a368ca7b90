"""A progress bar over a study's trials, with the running trials' steps and an ETA.

The ETA is the steps left at the wall time per step measured on the study's own
trials (done ones first, else running ones as the bar watches them advance),
without the time to their first step, so it holds on a resumed study and is not
thrown off by the first trial's compilation.

It polls the study directory (not the executor), so it shows the same picture
for in-process trials, worker processes and Ray tasks alike.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import threading
import time

from playbook import external, trial_files
from playbook.study.spec import StudySpec
from playbook.study.store import StudyStore, TrialRecord


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def seconds_per_step(store: StudyStore, records: list[TrialRecord], max_steps: int,
                     now: float, seen: dict[str, tuple[float, int]] | None = None
                     ) -> float | None:
    """Wall seconds per training step, measured on this study's trials, without the time
    to a trial's first step (compilation, which later trials of a process skip): the
    median over done trials trained in one attempt (start to result.json, evaluations
    included), else over running trials since `seen` (trial id -> (time, step) of an
    earlier look, which this records) when they have advanced."""
    finished = []
    for r in records:
        if r.status != "done" or store.attempts(r.trial_id) != 1:
            continue
        started = store.last_attempt_time(r.trial_id)
        trial_dir = store.trial_dir(r.trial_id)
        ended = _mtime(trial_files.path(trial_dir, trial_files.RESULT_FILE))
        if started is None or ended is None:
            continue
        result = trial_files.read_result(trial_dir)
        first = result.throughput.first_step_seconds if result else math.nan
        training = ended - started - (first if math.isfinite(first) else 0.0)
        if training > 0:
            finished.append(training / max_steps)
    if finished:
        return statistics.median(finished)
    running = []
    for r in records:
        if r.status == "running" and r.steps > 0 and seen is not None:
            then, step = seen.setdefault(r.trial_id, (now, r.steps))
            if r.steps > step and now > then:
                running.append((now - then) / (r.steps - step))
    return statistics.median(running) if running else None


def _mtime(path: str) -> float | None:
    try:
        return os.path.getmtime(path)
    except OSError:
        return None


def eta_seconds(store: StudyStore, records: list[TrialRecord], max_steps: int,
                now: float | None = None, seen: dict[str, tuple[float, int]] | None = None
                ) -> float | None:
    """Seconds until every trial is finished: the steps left at the measured rate, shared
    by the trials running side by side; None before anything was measured."""
    now = time.time() if now is None else now
    rate = seconds_per_step(store, records, max_steps, now, seen)
    if rate is None:
        return None
    left = sum(max_steps if r.status == "pending" else max(max_steps - r.steps, 0)
               for r in records if r.status in trial_files.UNFINISHED)
    parallel = max(1, sum(r.status == "running" for r in records))
    return left * rate / parallel


def line(store: StudyStore, spec: StudySpec, seen: dict[str, tuple[float, int]] | None = None
         ) -> str:
    """One status line: a bar over trials, the running trials' steps, and an ETA."""
    records = store.trials(spec.metric)
    total = len(records)
    finished = sum(r.status in trial_files.ENDED for r in records)
    max_steps = external.length(spec.baseline) or 1  # a trainer's num_train_steps too
    width = 20
    filled = int(width * finished / max(total, 1))
    bar = "#" * filled + "-" * (width - filled)
    running = [f"{r.trial_id}@{r.steps}/{max_steps}" for r in records if r.status == "running"]
    eta = eta_seconds(store, records, max_steps, seen=seen) if finished < total else None
    eta_text = f" ETA {_duration(eta)}" if eta is not None else ""
    run = f" running {' '.join(running[:4])}" if running else ""
    return f"[{bar}] {finished}/{total} trials{run}{eta_text}"


class ProgressBar:
    """Prints `line` every `interval` seconds from a background thread."""

    def __init__(self, store: StudyStore, spec: StudySpec, interval: float = 2.0, stream=None):
        self.store, self.spec, self.interval = store, spec, interval
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.seen: dict[str, tuple[float, int]] = {}  # running trials' first looks

    def __enter__(self) -> ProgressBar:
        try:
            self._print(line(self.store, self.spec, self.seen))
        except OSError:
            pass
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._print(line(self.store, self.spec, self.seen), final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._print(line(self.store, self.spec, self.seen))
            except OSError:
                continue

    def _print(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
